"""The Kubernetes manifests: every kustomization renders and validates offline, and the rendered
objects agree with each other and with lorafleet/config.py (ports, settings, Secrets, volumes,
probes, autoscaling, network policy, multi-GPU examples).
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys

import pytest
from google.protobuf import json_format

from lorafleet.config import ENV_PREFIX, Settings, setting_specs
from lorafleet.v1 import trainer_pb2
from lorafleet_deploy_helpers import (
    BUILTIN_GROUPS,
    K8S,
    KUBERNETES_VERSION,
    KUSTOMIZATIONS,
    OVERLAYS,
    SERVICE_PORTS,
    api_group,
    find,
    make_validator,
    render_text,
    the,
)

SETTING_ENV_NAMES = {spec.env_name for spec in setting_specs()}
DEPLOYMENTS = {c: f"lorafleet-{c}" for c in SERVICE_PORTS}


def _containers(workload: dict) -> list[dict]:
    return workload["spec"]["template"]["spec"]["containers"]


def _configmap_data(resources: list[dict], prefix: str) -> dict[str, str]:
    (cm,) = [r for r in find(resources, "ConfigMap") if r["metadata"]["name"].startswith(prefix)]
    return cm["data"]


def _secret_data(secret: dict) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


# --- rendering and schema validation -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_kustomization_validates_strictly(name, rendered, validate):
    resources = rendered[name]
    assert resources, f"{name} renders nothing"
    errors = [err for resource in resources for err in validate(resource)]
    assert errors == [], "\n".join(errors)


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_kubernetes_validate_cli_passes_each_kustomization(name, tmp_path, rendered, validate):
    """The bar as written: `kubernetes-validate --strict` on the rendered output exits 0. (The
    CLI only warns on custom resources; test_kustomization_validates_strictly covers those.)"""
    out = tmp_path / "rendered.yaml"
    out.write_text(render_text(KUSTOMIZATIONS[name]))
    proc = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet",
         "-k", KUBERNETES_VERSION, str(out)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ERROR" not in proc.stdout


def test_strict_validation_rejects_unknown_and_mistyped_fields(rendered, validate):
    """The validator is not a rubber stamp: one typo in a built-in kind and in each custom
    resource kind is caught."""
    resources = rendered["dev"] + rendered["examples/trainjob"] + rendered["examples/pytorchjob"]
    deployment = copy.deepcopy(the(resources, "Deployment", "lorafleet-inference"))
    _containers(deployment)[0]["readinessProbe"]["grpc"]["servce"] = ""
    assert validate(deployment), "unknown probe field accepted"
    deployment = copy.deepcopy(the(resources, "Deployment", "lorafleet-inference"))
    _containers(deployment)[0]["readinessProbe"]["grpc"]["port"] = "grpc"
    assert validate(deployment), "named port accepted in a grpc probe (it must be a number)"

    custom = [r for r in resources if api_group(r) not in BUILTIN_GROUPS]
    assert {r["kind"] for r in custom} == {"ServiceMonitor", "PrometheusRule", "TrainJob", "TrainingRuntime", "PyTorchJob"}
    for resource in custom:
        broken = copy.deepcopy(resource)
        broken["spec"]["unknownField"] = True
        assert validate(broken), f"{resource['kind']}: unknown spec field accepted"
    sm = copy.deepcopy(the(resources, "ServiceMonitor", "lorafleet"))
    sm["spec"]["endpoints"][0]["interval"] = "15 seconds"
    assert validate(sm), "ServiceMonitor: malformed duration accepted"
    rule = copy.deepcopy(the(resources, "PrometheusRule", "lorafleet"))
    rule["spec"]["groups"][0]["rules"][0]["record"] = "lorafleet:both"
    assert validate(rule), "PrometheusRule: rule with both alert and record accepted"
    job = copy.deepcopy(the(resources, "PyTorchJob", "support-bot-ddp"))
    job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    assert validate(job), "PyTorchJob: pod template not validated against the Kubernetes schema"
    trainjob = copy.deepcopy(the(resources, "TrainJob", "support-bot-ddp"))
    trainjob["spec"]["trainer"]["numNodes"] = "2"
    assert validate(trainjob), "TrainJob: string numNodes accepted"


def test_overlay_objects_land_in_the_overlay_namespace(rendered):
    """Every namespaced object of the overlays lands in the overlay's namespace."""
    for overlay, namespace in (("dev", "lorafleet-dev"), ("production", "lorafleet")):
        for r in rendered[overlay]:
            if r["kind"] != "Namespace":
                assert r["metadata"].get("namespace") == namespace, (overlay, r["kind"], r["metadata"]["name"])
        assert the(rendered[overlay], "Namespace", namespace)["metadata"]["labels"][
            "pod-security.kubernetes.io/enforce"] == "restricted"


# --- services, probes, ports, settings ------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_native_grpc_probes_on_its_grpc_port(overlay, rendered):
    config = _configmap_data(rendered[overlay], "lorafleet-config")
    for component, deployment_name in DEPLOYMENTS.items():
        deployment = the(rendered[overlay], "Deployment", deployment_name)
        (container,) = _containers(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == SERVICE_PORTS[component]
        for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container[probe_name]
            assert set(probe) - {"periodSeconds", "timeoutSeconds", "failureThreshold", "initialDelaySeconds",
                                 "successThreshold"} == {"grpc"}, (component, probe_name)
            assert probe["grpc"] == {"port": SERVICE_PORTS[component]["grpc"], "service": ""}
        # The startup probe covers a cold model load (minutes); liveness only takes over after.
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
        settings_key = {"trainer": "TRAINER", "inference": "INFERENCE", "evaluator": "EVAL"}[component]
        assert int(config[f"LORAFLEET_{settings_key}_PORT"]) == SERVICE_PORTS[component]["grpc"]
        assert int(config[f"LORAFLEET_{settings_key}_METRICS_PORT"]) == SERVICE_PORTS[component]["metrics"]
        if "http" in SERVICE_PORTS[component]:
            assert int(config["LORAFLEET_HTTP_PORT"]) == SERVICE_PORTS[component]["http"]
        assert container["args"] == ["serve", {"evaluator": "eval"}.get(component, component)]


def test_ports_match_the_settings_defaults():
    defaults = Settings()
    assert SERVICE_PORTS == {
        "trainer": {"grpc": defaults.trainer_port, "metrics": defaults.trainer_metrics_port},
        "inference": {"grpc": defaults.inference_port, "http": defaults.http_port,
                      "metrics": defaults.inference_metrics_port},
        "evaluator": {"grpc": defaults.eval_port, "metrics": defaults.eval_metrics_port},
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_expose_grpc_and_metrics_ports(overlay, rendered):
    for component, deployment_name in DEPLOYMENTS.items():
        service = the(rendered[overlay], "Service", deployment_name)
        pod_labels = the(rendered[overlay], "Deployment", deployment_name)["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
        assert ports == {name: (port, name) for name, port in SERVICE_PORTS[component].items()}
    headless = the(rendered[overlay], "Service", "lorafleet-inference-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert [p["name"] for p in headless["spec"]["ports"]] == ["grpc"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_load_from_the_rendered_environment(overlay, rendered):
    """Every LORAFLEET_* variable the pods get is a real setting, and lorafleet's own parser
    accepts the ConfigMap (plus the dev Secrets) as a complete configuration."""
    resources = rendered[overlay]
    config = _configmap_data(resources, "lorafleet-config")
    env = dict(config)
    for secret in find(resources, "Secret"):
        env.update(_secret_data(secret))
    for workload in find(resources, "Deployment"):
        for container in _containers(workload):
            env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    lorafleet_keys = {k for k in env if k.startswith(ENV_PREFIX)}
    assert lorafleet_keys - SETTING_ENV_NAMES == set(), "unknown settings"
    settings = Settings.from_env({k: env[k] for k in lorafleet_keys})
    assert settings.host == "0.0.0.0"
    assert str(settings.resolved_artifacts_dir) == "/artifacts"
    assert settings.resolved_inference_address == "lorafleet-inference:50052"
    for deployment_name in DEPLOYMENTS.values():
        (container,) = _containers(the(resources, "Deployment", deployment_name))
        refs = [next(iter(src.values()))["name"] for src in container["envFrom"]]
        assert refs[0] == the_configmap_name(resources)
        assert [r.rsplit("-", 1)[0] if overlay == "dev" else r for r in refs[1:]] == [
            "lorafleet-database", "lorafleet-auth"]


def the_configmap_name(resources: list[dict]) -> str:
    (cm,) = [r for r in find(resources, "ConfigMap") if r["metadata"]["name"].startswith("lorafleet-config")]
    return cm["metadata"]["name"]


def test_dev_generates_placeholder_secrets_and_runs_postgres(rendered):
    resources = rendered["dev"]
    secrets = {s["metadata"]["name"].rsplit("-", 1)[0]: _secret_data(s) for s in find(resources, "Secret")}
    assert set(secrets) == {"lorafleet-database", "lorafleet-auth", "lorafleet-postgres"}
    url = secrets["lorafleet-database"]["LORAFLEET_DATABASE_URL"]
    pg = secrets["lorafleet-postgres"]
    service = the(resources, "Service", "lorafleet-postgres")
    assert url == (f"postgresql+psycopg://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}"
                   f"@{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/{pg['POSTGRES_DB']}")
    assert secrets["lorafleet-auth"]["LORAFLEET_AUTH_TOKENS"]
    statefulset = the(resources, "StatefulSet", "lorafleet-postgres")
    assert service["spec"]["selector"].items() <= statefulset["spec"]["template"]["metadata"]["labels"].items()
    (pg_container,) = _containers(statefulset)
    assert pg_container["envFrom"][0]["secretRef"]["name"].startswith("lorafleet-postgres-")


def test_production_expects_existing_secrets_and_an_external_database(rendered):
    resources = rendered["production"]
    assert find(resources, "Secret") == []
    assert find(resources, "StatefulSet") == []
    for deployment_name in DEPLOYMENTS.values():
        (container,) = _containers(the(resources, "Deployment", deployment_name))
        assert {src["secretRef"]["name"] for src in container["envFrom"] if "secretRef" in src} == {
            "lorafleet-database", "lorafleet-auth"}
    egress = the(resources, "NetworkPolicy", "lorafleet-external-database-egress")["spec"]["egress"]
    assert egress[0]["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_production_runs_inference_and_trainer_on_gpus(rendered):
    resources = rendered["production"]
    for name in ("lorafleet-inference", "lorafleet-trainer"):
        (container,) = _containers(the(resources, "Deployment", name))
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert container["image"] == "registry.example.com/lorafleet/lorafleet:0.1.0-cuda"
    assert _configmap_data(resources, "lorafleet-config")["LORAFLEET_DEVICE"] == "cuda"
    hpa = the(resources, "HorizontalPodAutoscaler", "lorafleet-inference")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_have_requests_limits_and_a_restricted_security_context(overlay, rendered):
    for workload in find(rendered[overlay], "Deployment") + find(rendered[overlay], "StatefulSet"):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), workload["metadata"]["name"]
            assert "memory" in resources["limits"], workload["metadata"]["name"]
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert sc["readOnlyRootFilesystem"] is True


def test_trainer_is_a_single_recreated_replica(rendered):
    for overlay in OVERLAYS:
        trainer = the(rendered[overlay], "Deployment", "lorafleet-trainer")
        assert trainer["spec"]["replicas"] == 1
        assert trainer["spec"]["strategy"] == {"type": "Recreate"}
        inference = the(rendered[overlay], "Deployment", "lorafleet-inference")
        assert "replicas" not in inference["spec"], "the HPA owns the inference replica count"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_all_three_mount_the_shared_artifacts_volume_at_the_artifacts_dir(overlay, rendered):
    resources = rendered[overlay]
    pvc = the(resources, "PersistentVolumeClaim", "lorafleet-artifacts")
    expected_mode = "ReadWriteOnce" if overlay == "dev" else "ReadWriteMany"
    assert pvc["spec"]["accessModes"] == [expected_mode]
    artifacts_dir = _configmap_data(resources, "lorafleet-config")["LORAFLEET_ARTIFACTS_DIR"]
    for deployment_name in DEPLOYMENTS.values():
        pod = the(resources, "Deployment", deployment_name)["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert volumes[mounts[artifacts_dir]]["persistentVolumeClaim"]["claimName"] == "lorafleet-artifacts"


def test_base_artifacts_volume_is_read_write_many():
    import yaml

    pvc = yaml.safe_load((K8S / "base" / "artifacts-pvc.yaml").read_text())
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]


# --- autoscaling and network policy --------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_hpa_scales_inference_on_queue_depth_from_the_adapter_rule(overlay, rendered, metrics_contract):
    hpa = the(rendered[overlay], "HorizontalPodAutoscaler", "lorafleet-inference")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "lorafleet-inference"}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    name = metric["pods"]["metric"]["name"]
    assert name == "lorafleet_num_requests_waiting"
    assert metrics_contract[name].type == "gauge"
    assert metric["pods"]["target"]["type"] == "AverageValue"
    # prometheus-adapter publishes exactly this name.
    import yaml

    (adapter_cm,) = find(rendered["prometheus-adapter"], "ConfigMap")
    rules = yaml.safe_load(adapter_cm["data"]["config.yaml"])["rules"]
    assert [r["name"]["as"] for r in rules] == [name]
    assert rules[0]["resources"]["overrides"]["pod"] == {"resource": "pod"}
    values = yaml.safe_load((K8S / "prometheus-adapter" / "values.yaml").read_text())
    assert values["rules"]["custom"] == rules, "Helm values and ConfigMap rule drifted"


def _policies_selecting(resources: list[dict], pod_labels: dict) -> list[dict]:
    def matches(selector: dict) -> bool:
        if not selector.get("matchLabels", {}).items() <= pod_labels.items():
            return False
        for expr in selector.get("matchExpressions", []):
            if expr["operator"] == "In" and pod_labels.get(expr["key"]) not in expr["values"]:
                return False
        return True

    return [p for p in find(resources, "NetworkPolicy") if matches(p["spec"]["podSelector"])]


def _ingress_allows(policies: list[dict], port: int, peer: dict) -> bool:
    """peer: {"namespace_labels": {...}} or {"pod_labels": {...}} (same namespace)."""
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if rule.get("ports") and port not in [p["port"] for p in rule["ports"]]:
                continue
            for source in rule.get("from", []):
                if "namespaceSelector" in source and "namespace_labels" in peer:
                    if source["namespaceSelector"]["matchLabels"].items() <= peer["namespace_labels"].items():
                        return True
                if "podSelector" in source and "namespaceSelector" not in source and "pod_labels" in peer:
                    if source["podSelector"]["matchLabels"].items() <= peer["pod_labels"].items():
                        return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_admits_exactly_the_intended_peers(overlay, rendered):
    resources = rendered[overlay]
    default_deny = the(resources, "NetworkPolicy", "lorafleet-default-deny")["spec"]
    assert default_deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    pods = {c: the(resources, "Deployment", n)["spec"]["template"]["metadata"]["labels"] for c, n in DEPLOYMENTS.items()}
    client_ns = {"namespace_labels": {"kubernetes.io/metadata.name": "apps", "lorafleet.io/client": "true"}}
    other_ns = {"namespace_labels": {"kubernetes.io/metadata.name": "apps"}}
    monitoring = {"namespace_labels": {"kubernetes.io/metadata.name": "monitoring"}}
    stranger = {"pod_labels": {"app": "something-else"}}
    for component, labels in pods.items():
        policies = _policies_selecting(resources, labels)
        grpc, metrics = SERVICE_PORTS[component]["grpc"], SERVICE_PORTS[component]["metrics"]
        assert _ingress_allows(policies, grpc, {"pod_labels": pods["evaluator"]}), component
        assert _ingress_allows(policies, grpc, client_ns) == (component == "inference"), component
        assert not _ingress_allows(policies, grpc, other_ns), component
        assert not _ingress_allows(policies, grpc, stranger), component
        assert _ingress_allows(policies, metrics, monitoring), component
        if "http" in SERVICE_PORTS[component]:  # the OpenAI-compatible API: the same clients as gRPC
            http = SERVICE_PORTS[component]["http"]
            assert _ingress_allows(policies, http, client_ns) and not _ingress_allows(policies, http, other_ns)
            assert not _ingress_allows(policies, http, stranger), component
        assert not _ingress_allows(policies, metrics, client_ns), component
        admin = {"pod_labels": {"lorafleet.io/admin": "true"}}
        assert _ingress_allows(policies, grpc, admin) == (component in ("trainer", "evaluator")), component
    if overlay == "dev":
        db_labels = the(resources, "StatefulSet", "lorafleet-postgres")["spec"]["template"]["metadata"]["labels"]
        db_policies = _policies_selecting(resources, db_labels)
        assert _ingress_allows(db_policies, 5432, {"pod_labels": pods["inference"]})
        assert not _ingress_allows(db_policies, 5432, stranger)
        assert not _ingress_allows(db_policies, 5432, client_ns)


# --- multi-GPU training examples -----------------------------------------------------------

TORCHRUN = ["torchrun", "--module", "trainer_service.training.ddp_main", "--config", "/config/job.json"]


def _job_config_mounted(pod_spec: dict, container: dict, resources: list[dict]) -> dict:
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/config"]
    cm_name = volumes[mount["name"]]["configMap"]["name"]
    return the(resources, "ConfigMap", cm_name)


def _assert_valid_job_json(text: str) -> None:
    request = json_format.Parse(text, trainer_pb2.CreateTrainingJobRequest())
    assert request.adapter_name and request.training_dataset_path.startswith("/artifacts/datasets/")
    assert request.lora.r > 0 and request.hyperparameters.learning_rate > 0


def test_trainjob_example_runs_torchrun_on_several_gpus(rendered):
    resources = rendered["examples/trainjob"]
    job = the(resources, "TrainJob", "support-bot-ddp")
    trainer = job["spec"]["trainer"]
    assert trainer["command"] == TORCHRUN
    assert trainer["numNodes"] * trainer["numProcPerNode"] > 1
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == str(trainer["numProcPerNode"])
    runtime = the(resources, "TrainingRuntime", job["spec"]["runtimeRef"]["name"])
    assert job["spec"]["runtimeRef"]["kind"] == "TrainingRuntime"
    (replicated,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    pod_spec = replicated["template"]["spec"]["template"]["spec"]
    (container,) = pod_spec["containers"]
    assert container["name"] == "node"
    _assert_valid_job_json(_job_config_mounted(pod_spec, container, resources)["data"]["job.json"])
    env = {e["name"]: e["value"] for e in container["env"]}
    assert set(env) <= SETTING_ENV_NAMES
    assert Settings.from_env(env).data_root_paths


def test_pytorchjob_example_runs_torchrun_on_several_gpus(rendered):
    resources = rendered["examples/pytorchjob"]
    job = the(resources, "PyTorchJob", "support-bot-ddp")
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert set(specs) == {"Master", "Worker"}
    nproc = int(job["spec"]["nprocPerNode"])
    assert nproc * sum(s["replicas"] for s in specs.values()) > 1
    for spec in specs.values():
        pod_spec = spec["template"]["spec"]
        (container,) = pod_spec["containers"]
        assert container["name"] == "pytorch"
        assert container["command"] == TORCHRUN
        assert container["resources"]["limits"]["nvidia.com/gpu"] == str(nproc)
        _assert_valid_job_json(_job_config_mounted(pod_spec, container, resources)["data"]["job.json"])
        assert {e["name"] for e in container["env"]} <= SETTING_ENV_NAMES


def test_training_pods_may_talk_to_each_other(rendered):
    for name, kind in (("examples/trainjob", "TrainingRuntime"), ("examples/pytorchjob", "PyTorchJob")):
        resources = rendered[name]
        (workload,) = find(resources, kind)
        if kind == "TrainingRuntime":
            job_template = workload["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]
            labels = job_template["spec"]["template"]["metadata"]["labels"]
        else:
            labels = workload["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["metadata"]["labels"]
        policies = _policies_selecting(resources, labels)
        assert policies, name
        assert _ingress_allows(policies, 29500, {"pod_labels": labels})
        assert not _ingress_allows(policies, 29500, {"pod_labels": {"app": "other"}})


def test_job_json_matches_the_trainer_proto():
    _assert_valid_job_json((K8S / "examples" / "ddp-job" / "job.json").read_text())
    with pytest.raises(json_format.ParseError):
        json_format.Parse(json.dumps({"adapterName": "x", "learningRate": 1}), trainer_pb2.CreateTrainingJobRequest())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_also_validate_against_the_newest_bundled_kubernetes(overlay, rendered, validate):
    """Forward compatibility: no API version or field the manifests use is gone in the newest
    Kubernetes release kubernetes-validate ships schemas for."""
    from kubernetes_validate.utils import latest_version

    newest = make_validator(latest_version())
    errors = [err for r in rendered[overlay] for err in newest(r)]
    assert errors == [], "\n".join(errors)
