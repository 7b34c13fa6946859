"""RegistryClient against a real server: import, list (paged), get, promote, rollback, delete."""

from __future__ import annotations

import grpc
import pytest

from lorafleet.client import LoraFleetClient
from lorafleet.client.registry import adapter_state
from lorafleet.v1 import common_pb2


def test_registry_round_trip(registry_server, tiny_adapter_dir):
    with LoraFleetClient(registry_server.address, timeout=60) as fleet:
        reg = fleet.registry
        v1 = reg.import_adapter("support-bot", tiny_adapter_dir, description="first", metrics={"loss": 1.5}).adapter
        v2 = reg.import_adapter("support-bot", tiny_adapter_dir).adapter
        other = reg.import_adapter("other-bot", tiny_adapter_dir).adapter
        assert (v1.version, v2.version, other.version) == (1, 2, 1)
        assert v1.state == common_pb2.ADAPTER_STATE_CANDIDATE and v1.metrics["loss"] == 1.5
        assert {m.rsplit(".", 1)[-1] for m in v1.resolved_target_modules} == {"q_proj", "v_proj"}
        assert len(v1.resolved_target_modules) == 4 and v1.lora_config.r == 4  # 2 layers x 2 modules

        page = reg.list_adapters(page_size=1)
        assert len(page.adapters) == 1 and page.next_page_token
        every = list(reg.iter_adapters(page_size=1))
        assert sorted((v.name, v.version) for v in every) == [("other-bot", 1), ("support-bot", 1), ("support-bot", 2)]
        assert sorted(v.version for v in reg.iter_adapters(name="support-bot")) == [1, 2]
        assert len(list(reg.iter_adapters(state="candidate"))) == 3

        moved = reg.set_alias("support-bot", 1, reason="first release")
        assert (moved.alias.alias, moved.alias.version, moved.previous_version) == ("production", 1, 0)
        assert reg.set_alias("support-bot", 2).previous_version == 1
        shown = reg.get_adapter("support-bot")
        assert shown.adapter.version == 2 and "production" in shown.adapter.aliases
        assert [(h.from_version, h.to_version) for h in shown.alias_history] == [(0, 1), (1, 2)]

        back = reg.rollback("support-bot")
        assert (back.alias.version, back.previous_version) == (1, 2)
        with pytest.raises(grpc.RpcError) as aliased:
            reg.delete("support-bot@1")
        assert aliased.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reg.delete("support-bot@2").adapter.version == 2
        with pytest.raises(grpc.RpcError) as gone:
            reg.get_adapter("support-bot@2")
        assert gone.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("text,value", [
    (None, common_pb2.ADAPTER_STATE_UNSPECIFIED), ("", common_pb2.ADAPTER_STATE_UNSPECIFIED),
    ("promoted", common_pb2.ADAPTER_STATE_PROMOTED), ("REJECTED", common_pb2.ADAPTER_STATE_REJECTED),
    ("ADAPTER_STATE_CANDIDATE", common_pb2.ADAPTER_STATE_CANDIDATE), (2, common_pb2.ADAPTER_STATE_EVALUATING),
])
def test_adapter_state_names(text, value):
    assert adapter_state(text) == value


@pytest.mark.parametrize("bad", ["done", 99])
def test_adapter_state_rejects_unknown(bad):
    with pytest.raises(ValueError):
        adapter_state(bad)
