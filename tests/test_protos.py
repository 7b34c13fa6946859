"""The committed generated code equals a fresh protoc run, and the contracts pass buf lint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = ROOT / "protos"
GENERATED = ROOT / "clients" / "python" / "lorafleet" / "v1"


def test_generated_code_matches_fresh_protoc(tmp_path: Path) -> None:
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in (PROTO_DIR / "lorafleet" / "v1").glob("*.proto"))
    assert len(protos) == 6, protos
    include = str(Path(protoc.__file__).parent / "_proto")
    rc = protoc.main(
        ["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={tmp_path}", f"--pyi_out={tmp_path}",
         f"--grpc_python_out={tmp_path}", *[str(PROTO_DIR / p) for p in protos]]
    )
    assert rc == 0
    fresh = sorted(p.name for p in (tmp_path / "lorafleet" / "v1").iterdir())
    committed = sorted(p.name for p in GENERATED.iterdir() if p.name != "__init__.py" and p.suffix in (".py", ".pyi"))
    assert fresh == committed
    stale = [n for n in fresh if (tmp_path / "lorafleet" / "v1" / n).read_bytes() != (GENERATED / n).read_bytes()]
    assert not stale, f"regenerate with scripts/gen_protos.sh: {stale}"


def test_buf_lint_standard_passes() -> None:
    buf = shutil.which("buf") or str(Path(sys.executable).parent / "buf")
    if not Path(buf).exists():
        pytest.fail("buf not installed (pip install buf-bin; it is in the dev extra)")
    result = subprocess.run([buf, "lint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_design_rpc_exists() -> None:
    from lorafleet.v1 import eval_pb2, inference_pb2, registry_pb2, trainer_pb2

    expected = {
        trainer_pb2: ("TrainerService", {"UploadDataset", "ValidateDataset", "CreateTrainingJob", "GetTrainingJob",
                                          "ListTrainingJobs", "CancelTrainingJob", "WatchTrainingJob"}),
        inference_pb2: ("InferenceService", {"Generate", "GenerateStream", "LoadAdapter", "UnloadAdapter",
                                              "ListLoadedAdapters", "GetModelInfo"}),
        eval_pb2: ("EvalService", {"CreateEvaluation", "GetEvaluation", "WatchEvaluation", "ListSuites"}),
        registry_pb2: ("RegistryService", {"ListAdapters", "GetAdapter", "ImportAdapter", "SetAlias", "DeleteAdapter"}),
    }
    for module, (service, rpcs) in expected.items():
        methods = {m.name for m in module.DESCRIPTOR.services_by_name[service].methods}
        assert rpcs <= methods, (service, rpcs - methods)
    stream = trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"].methods_by_name
    assert stream["UploadDataset"].client_streaming and stream["WatchTrainingJob"].server_streaming
    assert inference_pb2.DESCRIPTOR.services_by_name["InferenceService"].methods_by_name["GenerateStream"].server_streaming
