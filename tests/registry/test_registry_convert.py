"""Records -> protobuf conversion at the gRPC edge."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from lorafleet.errors import InvalidArgument
from lorafleet.registry.models import AdapterState, AliasChangeRecord, LoraSpec, VersionRecord
from lorafleet.server import registry_convert as convert
from lorafleet.v1 import common_pb2

T0 = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc)


def test_state_mapping_is_a_bijection():
    for state in AdapterState:
        assert convert.state_from_proto(convert.state_to_proto(state)) is state
    assert convert.state_from_proto(common_pb2.ADAPTER_STATE_UNSPECIFIED) is None
    with pytest.raises(InvalidArgument) as err:
        convert.state_from_proto(17)
    assert err.value.field == "state"


def test_version_to_proto_carries_every_field():
    record = VersionRecord(
        name="bot", version=3, state=AdapterState.PROMOTED, base_fingerprint="sha256:ab",
        lora=LoraSpec(r=8, alpha=16.0, dropout=0.05, target_modules=("q_proj", "v_proj"), use_rslora=True),
        lineage={"source": "trained", "training_job_id": "job-1", "config_json": {"lr": 0.001}, "unknown": 1},
        metrics={"loss": 0.25}, aliases=("canary", "production"), artifact_path="/a/adapters/bot/3",
        size_bytes=1234, description="d",
        evaluations=({"evaluation_id": "ev", "verdict": "promote", "report_json_path": "/r.json",
                      "report_html_path": "/r.html", "created_at": T0.isoformat()},),
        created_at=T0, updated_at=T0, resolved_target_modules=("model.layers.0.self_attn.q_proj",))
    msg = convert.version_to_proto(record)
    assert (msg.name, msg.version, msg.state) == ("bot", 3, common_pb2.ADAPTER_STATE_PROMOTED)
    assert (msg.lora_config.r, msg.lora_config.use_rslora, list(msg.lora_config.target_modules)) == \
        (8, True, ["q_proj", "v_proj"])
    assert msg.lora_config.dropout == pytest.approx(0.05)
    assert msg.lineage.source == "trained" and msg.lineage.training_job_id == "job-1"
    assert json.loads(msg.lineage.config_json) == {"lr": 0.001}
    assert dict(msg.metrics) == {"loss": 0.25} and list(msg.aliases) == ["canary", "production"]
    assert msg.size_bytes == 1234 and msg.artifact_path == "/a/adapters/bot/3"
    assert msg.evaluations[0].verdict == "promote" and msg.evaluations[0].create_time.ToDatetime(timezone.utc) == T0
    assert msg.create_time.ToDatetime(timezone.utc) == T0
    assert list(msg.resolved_target_modules) == ["model.layers.0.self_attn.q_proj"]


def test_alias_change_to_proto():
    msg = convert.alias_change_to_proto(AliasChangeRecord("bot", "production", 0, 2, "launch", T0))
    assert (msg.from_version, msg.to_version, msg.reason) == (0, 2, "launch")
    assert msg.change_time.ToDatetime(timezone.utc) == T0
