"""A training job that registers its update extrapolated by part (``extrapolate`` in the request)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import grpc
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from peft import get_peft_model_state_dict
from safetensors.torch import load_file
from trainer_testkit import jsonl

from lorafleet.adapters.extrapolate import PROVENANCE_FILE, Factors
from lorafleet.adapters.lora import split_weight_name
from lorafleet.cli.train import register
from lorafleet.errors import InvalidArgument
from lorafleet.v1 import trainer_pb2
from trainer_service.convert import config_from_proto, config_to_proto
from trainer_service.training.config import TrainingConfig
from trainer_service.training.model import build_peft_model

WEIGHTS = "adapter_model.safetensors"


def _code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), err.value.details()


def _assert_scaled(trained: Path, registered: Path, factors: Factors) -> None:
    """Every lora_B of ``registered`` is its part's factor times the trained one; every lora_A is unchanged."""
    before, after = load_file(str(trained / WEIGHTS)), load_file(str(registered / WEIGHTS))
    assert before.keys() == after.keys() and before
    parts = set()
    for key, tensor in before.items():
        module, which = split_weight_name(key)
        factor = getattr(factors, Factors.part(module)) if which == "B" else 1.0
        parts.add(Factors.part(module))
        assert after[key].float().allclose(tensor.float() * factor, rtol=1e-6, atol=0), key
    assert parts == {"mlp", "attention"}


def test_a_job_registers_its_update_extrapolated_and_keeps_the_trained_checkpoint(client, server, tiny_model_dir,
                                                                                  toy_records) -> None:
    ds = client.upload_bytes(jsonl(toy_records)).id
    job = client.create_job("expo-bot", training_dataset_id=ds, adapter_method="lora", r=4, alpha=8, max_steps=3,
                            learning_rate=1e-2, validation_split=0.2, extrapolate_mlp=1.5, extrapolate_attention=0.5)
    assert (job.config.extrapolate.mlp, job.config.extrapolate.attention) == (1.5, 0.5)
    events = list(client.watch(job.id, timeout=300))
    done = client.get_job(job.id)
    assert done.state == trainer_pb2.JOB_STATE_SUCCEEDED, done.error
    logs = [e.message for e in events if e.type == trainer_pb2.TRAINING_EVENT_TYPE_LOG]
    assert any("MLP x1.5" in m and "attention x0.5" in m for m in logs), logs
    (best,) = [c for c in done.checkpoints if c.best]
    version = server.server.context.registry.get_version("expo-bot", done.adapter_version)
    _assert_scaled(Path(best.path), Path(version.artifact_path), Factors(mlp=1.5, attention=0.5))
    provenance = json.loads((Path(version.artifact_path) / PROVENANCE_FILE).read_text())
    assert (provenance["mlp"], provenance["attention"]) == (1.5, 0.5)
    assert json.loads(version.lineage["config_json"])["extrapolate_mlp"] == 1.5

    # continuing it starts from the trained update (the factors divided out), not from the scaled copy
    config = TrainingConfig(adapter_name="expo-bot", training_dataset_id=ds, adapter_method="lora", r=4, alpha=8,
                            compute_dtype="float32")
    start = build_peft_model(tiny_model_dir, config, torch.device("cpu"),
                             init_adapter_dir=Path(version.artifact_path))
    trained = load_file(str(Path(best.path) / WEIGHTS))
    assert max(t.abs().max() for k, t in trained.items() if "lora_B" in k) > 0  # a B of zeros proves nothing
    loaded = {k: v for k, v in get_peft_model_state_dict(start).items() if "lora_B" in k}
    assert loaded and all(v.allclose(trained[k].float(), rtol=1e-5, atol=1e-7) for k, v in loaded.items())
    cont = client.create_job("expo-bot", training_dataset_id=ds, init_from=f"expo-bot@{done.adapter_version}",
                             max_steps=1, extrapolate_mlp=1.5, extrapolate_attention=0.5)
    events = list(client.watch(cont.id, timeout=300))
    assert client.get_job(cont.id).state == trainer_pb2.JOB_STATE_SUCCEEDED
    assert any("trained update (registered x1.5 on the MLP, x0.5 on attention" in e.message for e in events)

    plain = client.create_job("plain-bot", training_dataset_id=ds, adapter_method="lora", r=4, max_steps=1)
    assert not plain.config.HasField("extrapolate")  # 1 x 1: nothing to send back, nothing done
    list(client.watch(plain.id, timeout=300))
    version = server.server.context.registry.get_version("plain-bot", client.get_job(plain.id).adapter_version)
    assert not (Path(version.artifact_path) / PROVENANCE_FILE).exists()


def test_bad_factors_and_unscalable_targets_are_refused_before_training(client, server, toy_records) -> None:
    ds = client.upload_bytes(jsonl(toy_records)).id
    cases = [
        (dict(extrapolate_mlp=4.5), "extrapolate.mlp:"),
        (dict(extrapolate_attention=-1.0), "extrapolate.attention:"),
        (dict(extrapolate_mlp=math.nan), "extrapolate.mlp:"),
        (dict(extrapolate_mlp=1.5, target_modules=["q_proj", "lm_head"]), "extrapolate:"),
    ]
    for kwargs, prefix in cases:
        code, details = _code(lambda kw=kwargs: client.create_job("bad-bot", training_dataset_id=ds,
                                                                  adapter_method="lora", **kw))
        assert (code, details.startswith(prefix)) == (grpc.StatusCode.INVALID_ARGUMENT, True), (kwargs, details)
    assert list(client.list_jobs().jobs) == []


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["mlp", "attention"]))
def test_a_factor_is_accepted_exactly_in_zero_to_four(value: float, part: str) -> None:
    request = config_to_proto(TrainingConfig(adapter_name="bot", training_dataset_id="ds-0"))
    setattr(request.extrapolate, part, value)
    if value == 0.0 or (math.isfinite(value) and 0.0 < value <= 4.0):
        config = config_from_proto(request)
        assert getattr(config, f"extrapolate_{part}") == (value or 1.0)
        assert config_from_proto(config_to_proto(config)) == config
    else:
        with pytest.raises(InvalidArgument) as err:
            config_from_proto(request)
        assert err.value.field == f"extrapolate.{part}"


def test_all_linear_is_checked_against_the_base_models_modules() -> None:
    config = TrainingConfig(adapter_name="bot", training_dataset_id="ds-0", extrapolate_mlp=1.5)
    assert config.extrapolation == Factors(mlp=1.5, attention=1.0)
    config.validate(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    with pytest.raises(InvalidArgument) as err:
        config.validate(["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])  # a fused-projection model
    assert err.value.field == "extrapolate" and "qkv_proj" in err.value.message
    paths = config.model_copy(update={"target_modules": ("model.layers.0.mlp.up_proj", "model.layers.0.lm_head")})
    with pytest.raises(InvalidArgument) as err:  # an init_from version lists its modules as paths
        paths.check_extrapolation(None)
    assert err.value.field == "extrapolate" and "model.layers.0.lm_head" in err.value.message
    config.model_copy(update={"target_modules": ("model.layers.0.mlp.up_proj",)}).check_extrapolation(None)
    assert TrainingConfig(adapter_name="bot", training_dataset_id="ds-0").extrapolation is None


def test_the_command_line_sends_the_factors(server, toy_records, tmp_path, capsys) -> None:
    data = tmp_path / "toy.jsonl"
    data.write_bytes(jsonl(toy_records))
    parser = argparse.ArgumentParser(prog="lorafleet")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", str(data), "--name", "cli-bot", "--method", "lora", "-r", "4", "--max-steps",
                              "1", "--extrapolate-mlp", "1.5", "--extrapolate-attention", "1.2", "--json",
                              "--server", server.address])
    assert args.func(args) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["config"]["extrapolate"] == {"mlp": 1.5, "attention": 1.2}
