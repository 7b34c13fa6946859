"""Inference hostile input and registry outages at the unit level: short errors for huge values, and
the alias cache keeping its last known answer (with a metric) while the registry is unreachable."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from inference_service.adapter_resolver import AdapterResolver
from inference_service.request_parsing import parse_prompt
from lorafleet.errors import InvalidArgument, NotFound, Unavailable
from lorafleet.v1 import common_pb2, inference_pb2

FINGERPRINT = "sha256:" + "a" * 64


class FlakyRegistry:
    """``resolve`` answers from ``versions`` (alias -> version) until ``down`` is set."""

    def __init__(self) -> None:
        self.versions = {"bot": 1}
        self.down: Exception | None = None
        self.calls = 0

    def resolve(self, ref):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.down is not None:
            raise self.down
        if ref.name not in self.versions:
            raise NotFound(f"adapter {ref.name!r} does not exist", field="adapter")
        version = self.versions[ref.name]
        return SimpleNamespace(name=ref.name, version=version, ref=f"{ref.name}@{version}",
                               base_fingerprint=FINGERPRINT, artifact_path=f"/artifacts/{ref.name}/{version}")


def _failures(outcome: str) -> float:
    return REGISTRY.get_sample_value("lorafleet_registry_lookup_failures_total", {"outcome": outcome}) or 0.0


def test_an_outage_keeps_the_last_known_resolution() -> None:
    registry = FlakyRegistry()
    resolver = AdapterResolver(registry, runtime=None, base_fingerprint=FINGERPRINT, alias_ttl_s=0.0)

    async def scenario() -> None:
        assert (await resolver.resolve("bot")).ref == "bot@1"
        stale_before, failed_before = _failures("stale"), _failures("failed")
        for down in (Unavailable("the registry database is unavailable (OperationalError); retry", field="registry"),
                     _sqlalchemy_operational_error()):
            registry.down = down
            assert (await resolver.resolve("bot")).ref == "bot@1"  # the last known answer, every time
            assert (await resolver.resolve("bot@production")).ref == "bot@1"
        assert _failures("stale") - stale_before == 4  # TTL 0: every call tries the registry
        with pytest.raises(Unavailable):  # never resolved here: nothing to fall back on
            await resolver.resolve("other")
        assert _failures("failed") - failed_before == 1
        registry.down, registry.versions["bot"] = None, 2
        assert (await resolver.resolve("bot")).ref == "bot@2"  # back: the alias move is seen
        registry.versions.pop("bot")
        with pytest.raises(NotFound):  # an answer of the registry is never papered over
            await resolver.resolve("bot")

    asyncio.run(scenario())


def test_a_refresh_failure_waits_a_ttl_before_the_next_try() -> None:
    registry = FlakyRegistry()
    resolver = AdapterResolver(registry, runtime=None, base_fingerprint=FINGERPRINT, alias_ttl_s=60.0)

    async def scenario() -> None:
        await resolver.resolve("bot")
        key = ("bot", "production")
        resolver._alias_cache[key] = (0.0, resolver._alias_cache[key][1])  # expired
        registry.down = Unavailable("down", field="registry")
        calls = registry.calls
        for _ in range(5):
            assert (await resolver.resolve("bot")).ref == "bot@1"
        assert registry.calls == calls + 1  # one failed refresh, then the stale answer is kept for a TTL

    asyncio.run(scenario())


def _sqlalchemy_operational_error() -> Exception:
    from sqlalchemy.exc import OperationalError

    return OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))


@pytest.mark.parametrize("length", [10_000, 1_048_576])
def test_huge_references_and_roles_get_short_errors(length: int) -> None:
    resolver = AdapterResolver(FlakyRegistry(), runtime=None, base_fingerprint=FINGERPRINT, alias_ttl_s=1.0)
    with pytest.raises(InvalidArgument) as err:
        asyncio.run(resolver.resolve("a" * length))
    assert err.value.field == "adapter" and len(str(err.value)) < 200
    request = inference_pb2.GenerateRequest(messages=[common_pb2.ChatMessage(role="r" * length, content="hi")])
    with pytest.raises(InvalidArgument) as err:
        parse_prompt(request)
    assert err.value.field == "messages[0].role" and len(str(err.value)) < 200
