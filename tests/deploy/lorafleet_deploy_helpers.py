"""Helpers for the deploy/ checks: paths, the pinned Kubernetes version, rendering, resource
validation, the metrics contract of deploy/METRICS.md and PromQL name extraction.

Fixtures that wrap these (and skip when a tool is missing) live in conftest.py.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"

# The Kubernetes version the manifests are validated against: the oldest minor release we
# support. Native gRPC probes need >= 1.27 (GA), the preStop sleep action >= 1.30.
KUBERNETES_VERSION = "1.33.0"

# Every kustomization a user applies; each must render and validate on its own.
KUSTOMIZATIONS = {
    "dev": K8S / "overlays" / "dev",
    "production": K8S / "overlays" / "production",
    "prometheus-adapter": K8S / "prometheus-adapter",
    "examples/trainjob": K8S / "examples" / "trainjob",
    "examples/pytorchjob": K8S / "examples" / "pytorchjob",
}
OVERLAYS = ("dev", "production")

# API groups served by Kubernetes itself (kubernetes-validate has their schemas).
BUILTIN_GROUPS = {
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
}

# What each service listens on (lorafleet/config.py defaults; the ConfigMap sets the same).
SERVICE_PORTS = {
    "trainer": {"grpc": 50051, "metrics": 9101},
    "inference": {"grpc": 50052, "http": 8000, "metrics": 9102},
    "evaluator": {"grpc": 50053, "metrics": 9103},
}


def api_group(resource: dict) -> str:
    api_version = resource["apiVersion"]
    return api_version.split("/")[0] if "/" in api_version else ""


def schema_file_name(kind: str, api_version: str) -> str:
    """deploy/schemas naming, mirroring kubernetes-validate's: kind-firstgroupsegment-version."""
    group, _, version = api_version.rpartition("/")
    return f"{kind.lower()}-{group.split('.')[0]}-{version}.json"


@functools.lru_cache(maxsize=None)
def kustomize_command() -> tuple[str, ...] | None:
    if shutil.which("kubectl"):
        return ("kubectl", "kustomize")
    if shutil.which("kustomize"):
        return ("kustomize", "build")
    return None


@functools.lru_cache(maxsize=None)
def render_text(path: Path) -> str:
    cmd = kustomize_command()
    assert cmd is not None, "needs kubectl or kustomize"
    proc = subprocess.run([*cmd, str(path)], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} {path} failed:\n{proc.stderr}")
    return proc.stdout


def render(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(render_text(path)) if doc]


def find(resources: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [r for r in resources if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]


def the(resources: list[dict], kind: str, name: str) -> dict:
    found = find(resources, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


@dataclass(frozen=True)
class Validator:
    """Validates one resource: built-in kinds with kubernetes-validate's strict schemas (what
    ``kubernetes-validate --strict`` does), custom resources with deploy/schemas. Returns error
    strings; empty when valid."""

    kubernetes_version: str
    registry: Any

    def __call__(self, resource: dict) -> list[str]:
        if api_group(resource) in BUILTIN_GROUPS:
            return self._builtin(resource)
        return self._custom(resource)

    def _builtin(self, resource: dict) -> list[str]:
        import kubernetes_validate
        from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

        where = f"{resource['kind']}/{resource['metadata']['name']}"
        try:
            kubernetes_validate.validate(resource, self.kubernetes_version, strict=True)
        except ValidationError as exc:
            return [f"{where}: {'.'.join(str(p) for p in exc.path)}: {exc.message}"]
        except SchemaNotFoundError as exc:
            return [f"{where}: {exc.message}"]
        return []

    def _custom(self, resource: dict) -> list[str]:
        import jsonschema

        name = schema_file_name(resource["kind"], resource["apiVersion"])
        path = DEPLOY / "schemas" / name
        if not path.is_file():
            return [f"{resource['kind']} {resource['apiVersion']}: no schema deploy/schemas/{name}"]
        validator = jsonschema.Draft202012Validator(json.loads(path.read_text()), registry=self.registry)
        where = f"{resource['kind']}/{resource['metadata'].get('name')}"
        return [
            f"{where}: {'.'.join(str(p) for p in err.absolute_path)}: {err.message}"
            for err in validator.iter_errors(resource)
        ]


def make_validator(kubernetes_version: str = KUBERNETES_VERSION) -> Validator:
    import kubernetes_validate
    from referencing import Registry, Resource

    schema_dir = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / f"v{kubernetes_version}-local-strict"
    )
    assert schema_dir.is_dir(), f"this kubernetes-validate has no schemas for {kubernetes_version}"
    definitions = json.loads((schema_dir / "_definitions.json").read_text())
    # The CRD schemas $ref Kubernetes types by this URI: the definitions' own $id.
    registry = Registry().with_resource(definitions["$id"], Resource.from_contents(definitions))
    return Validator(kubernetes_version, registry)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: str
    labels: tuple[str, ...]


_METRIC_ROW = re.compile(r"^\|\s*`(lorafleet_[a-z0-9_]+)`\s*\|\s*(counter|gauge|histogram)\s*\|([^|]*)\|")


def parse_metrics_md(text: str) -> dict[str, MetricSpec]:
    """The metric table of deploy/METRICS.md: name -> (type, labels)."""
    specs = {}
    for line in text.splitlines():
        m = _METRIC_ROW.match(line)
        if m:
            specs[m.group(1)] = MetricSpec(m.group(1), m.group(2), tuple(re.findall(r"`([a-z_]+)`", m.group(3))))
    return specs


def exposed_series_names(specs: dict[str, MetricSpec]) -> dict[str, MetricSpec]:
    """Series names a PromQL query may select: histograms as _bucket/_sum/_count."""
    names = {}
    for spec in specs.values():
        if spec.type == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                names[spec.name + suffix] = spec
        else:
            names[spec.name] = spec
    return names


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_IDENT = re.compile(r"(?<![A-Za-z0-9_:$])[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names_in(expr: str, prefix: str = "lorafleet_") -> set[str]:
    """Identifiers with ``prefix`` in a PromQL expression; quoted label values are ignored."""
    return {m for m in _IDENT.findall(_STRING.sub('""', expr)) if m.startswith(prefix)}


def selected_series(expr: str) -> list[tuple[str, str | None]]:
    """(metric, enclosing function) for each lorafleet series selector: rate(x[5m]) -> (x, rate)."""
    text = _STRING.sub('""', expr)
    found = []
    for m in re.finditer(r"(?<![A-Za-z0-9_:$])(lorafleet_[a-zA-Z0-9_:]*)", text):
        before = text[: m.start()].rstrip()
        func = re.search(r"([a-z_]+)\s*\($", before)
        found.append((m.group(1), func.group(1) if func else None))
    return found
