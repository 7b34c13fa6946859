"""Routing decisions (canary split, shadow and text sampling) and the rollout table, without a model."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime, timezone

import pytest

from inference_service import metrics
from inference_service.adapter_resolver import ResolvedAdapter
from inference_service.model.adapter_weights import AdapterKey
from inference_service.rollouts import RolloutTable
from inference_service.routing import (
    MAX_ROUTE_KEY_CHARS,
    ROUTE_KEY_HEADER,
    Arm,
    Router,
    is_sampled,
    parse_route_key,
    takes_canary,
)
from lorafleet.errors import InvalidArgument, NotFound
from lorafleet.refs import parse_ref
from lorafleet.registry.models import RolloutMode, RolloutRecord, RolloutStage, RolloutState

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
KEYS = [f"user-{i}" for i in range(10_000)]


def rollout(mode=RolloutMode.CANARY, weight=25.0, sampling_rate=0.5, rid="ro-1", name="support-bot") -> RolloutRecord:
    return RolloutRecord(id=rid, name=name, incumbent_version=1, candidate_version=2, state=RolloutState.RUNNING,
                         mode=mode, weight_percent=weight, stage_index=0, stages=(RolloutStage(mode, weight),),
                         sampling_rate=sampling_rate, policy_name="p", policy={}, evaluation_id="", reason="",
                         stats={}, revision=1, created_at=NOW, updated_at=NOW)


class FakeResolver:
    """production -> 1, canary -> 2, name@N -> N; ``missing`` versions raise NotFound."""

    def __init__(self, missing=()):
        self.missing = set(missing)

    async def resolve(self, text, field="adapter"):
        ref = parse_ref(text, field)
        version = ref.version if ref.version is not None else {"production": 1, "canary": 2}[ref.alias]
        if version in self.missing:
            raise NotFound(f"{ref.name}@{version} does not exist", field=field)
        return ResolvedAdapter(ref=f"{ref.name}@{version}", key=AdapterKey(ref.name, version), artifact_path="")


class FakeTable:
    def __init__(self, *records):
        self.records = {r.name: r for r in records}

    async def get(self, name):
        return self.records.get(name)


def router(*records, live_sample_rate=0.05, missing=()):
    return Router(FakeResolver(missing), FakeTable(*records), live_sample_rate=live_sample_rate)


def route_all(r: Router, pairs):
    async def main():
        return [await r.route(text, request_id=rid, route_key=key) for text, rid, key in pairs]

    return asyncio.run(main())


def test_the_canary_share_matches_the_weight_and_raising_it_only_moves_keys_to_the_candidate():
    previous: set[str] = set()
    for weight in (1.0, 5.0, 12.5, 25.0, 50.0, 90.0, 100.0):
        canary = {k for k in KEYS if takes_canary("ro-1", k, weight)}
        assert abs(100 * len(canary) / len(KEYS) - weight) <= 2.0, weight
        assert previous <= canary, f"raising the weight to {weight} moved keys back to production"
        previous = canary
    assert not any(takes_canary("ro-1", k, 0.0) for k in KEYS)
    # another rollout of the same name splits the keys independently (salted with its id)
    other = {k for k in KEYS if takes_canary("ro-2", k, 50.0)}
    assert 0.4 < len(other & {k for k in KEYS if takes_canary("ro-1", k, 50.0)}) / len(other) < 0.6


def test_one_route_key_sees_one_version_whatever_the_request_id():
    r = router(rollout(weight=30.0))
    keys = KEYS[:500]
    routes = route_all(r, [("support-bot", f"req-{k}-{i}", k) for k in keys for i in range(4)])
    versions: dict[str, set[int]] = {}
    for k, route in zip((k for k in keys for _ in range(4)), routes):
        versions.setdefault(k, set()).add(route.resolved.key.version)
    sticky = sum(len(v) == 1 for v in versions.values()) / len(versions)
    assert sticky >= 0.999
    canary_keys = {k for k, v in versions.items() if v == {2}}
    assert canary_keys == {k for k in keys if takes_canary("ro-1", k, 30.0)}
    for route in routes:
        assert route.rollout_id == "ro-1" and route.arm is (Arm.CANARY if route.resolved.key.version == 2
                                                            else Arm.PRODUCTION)
        assert route.ref == f"support-bot@{route.resolved.key.version}"


def test_without_a_route_key_the_request_id_is_the_key():
    r = router(rollout(weight=50.0))
    routes = route_all(r, [("support-bot", k, None) for k in KEYS[:200]])
    assert [x.arm is Arm.CANARY for x in routes] == [takes_canary("ro-1", k, 50.0) for k in KEYS[:200]]


@pytest.mark.parametrize(("text", "version"), [("support-bot@1", 1), ("support-bot@production", 1),
                                                ("support-bot@canary", 2), ("support-bot@3", 3)])
def test_explicit_references_are_never_rerouted_nor_reported(text, version):
    r = router(rollout(weight=100.0), rollout(RolloutMode.SHADOW, 0.0, 1.0, rid="ro-2", name="other"))
    routes = route_all(r, [(text, f"r{i}", KEYS[i]) for i in range(50)])
    routes += route_all(r, [(text.replace("support-bot", "other"), f"s{i}", None) for i in range(50)])
    assert {x.resolved.key.version for x in routes} == {version}
    assert all(x.arm is None and x.shadow is None and not x.rollout_id for x in routes)


def test_base_model_and_names_without_rollout():
    r = router(live_sample_rate=0.3)
    (base,) = route_all(r, [("", "r", None)])
    assert base.resolved is None and base.arm is None and base.ref == ""
    routes = route_all(r, [("support-bot", f"req-{i}", None) for i in range(5000)])
    assert all(x.arm is Arm.PRODUCTION and x.ref == "support-bot@1" and x.rollout is None for x in routes)
    assert [x.sampled for x in routes] == [is_sampled("", f"req-{i}", 0.3) for i in range(5000)]
    assert abs(sum(x.sampled for x in routes) / 5000 - 0.3) < 0.02


def test_shadow_reruns_a_sampled_share_of_production_requests():
    ro = rollout(RolloutMode.SHADOW, 0.0, sampling_rate=0.2)
    routes = route_all(router(ro, live_sample_rate=0.0), [("support-bot", f"req-{i}", "same-user")
                                                          for i in range(10_000)])
    assert all(x.arm is Arm.PRODUCTION and x.resolved.key.version == 1 for x in routes)
    shadowed = [x for x in routes if x.shadow is not None]
    assert abs(len(shadowed) / len(routes) - 0.2) <= 0.02
    assert all(x.shadow is ro and x.rollout_id == "ro-1" and x.sampled for x in shadowed)
    assert all(not x.rollout_id and not x.sampled and x.rollout is ro for x in routes if x.shadow is None)
    again = route_all(router(ro, live_sample_rate=0.0), [("support-bot", f"req-{i}", None) for i in range(200)])
    assert [x.shadow is not None for x in again] == [x.shadow is not None for x in routes[:200]]  # deterministic


def test_canary_text_is_sampled_at_the_rollout_rate():
    routes = route_all(router(rollout(weight=50.0, sampling_rate=0.1), live_sample_rate=1.0),
                       [("support-bot", f"req-{i}", None) for i in range(4000)])
    assert [x.sampled for x in routes] == [is_sampled("ro-1", f"req-{i}", 0.1) for i in range(4000)]


def test_a_missing_candidate_falls_back_to_production():
    routes = route_all(router(rollout(weight=100.0), missing={2}), [("support-bot", "r1", "k")])
    assert routes[0].arm is Arm.PRODUCTION and routes[0].ref == "support-bot@1" and routes[0].rollout_id == "ro-1"


def test_route_key_validation():
    assert parse_route_key(None) is None and parse_route_key("") is None
    assert parse_route_key("u" * MAX_ROUTE_KEY_CHARS) == "u" * MAX_ROUTE_KEY_CHARS
    with pytest.raises(InvalidArgument) as err:
        parse_route_key("u" * (MAX_ROUTE_KEY_CHARS + 1))
    assert err.value.field == ROUTE_KEY_HEADER == "x-lorafleet-route-key"


# -- the rollout table ---------------------------------------------------------------------------
class FakeStore:
    def __init__(self):
        self.records: list[RolloutRecord] = []
        self.calls = 0
        self.fail = False

    def rollouts(self):
        return self

    def running(self):
        self.calls += 1
        if self.fail:
            raise ConnectionError("registry unreachable")
        return list(self.records)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_table_is_read_at_most_once_per_period_and_reads_are_shared():
    store, clock = FakeStore(), Clock()
    table = RolloutTable(store, poll_s=2.0, clock=clock)
    store.records = [rollout()]

    async def main():
        got = await asyncio.gather(*(table.get("support-bot") for _ in range(20)))
        assert all(g.id == "ro-1" for g in got) and store.calls == 1
        store.records = [dataclasses.replace(rollout(), weight_percent=50.0)]
        clock.now += 1.9
        assert (await table.get("support-bot")).weight_percent == 25.0 and store.calls == 1
        clock.now += 0.2
        assert (await table.get("support-bot")).weight_percent == 50.0 and store.calls == 2
        store.records = []
        clock.now += 2.0
        assert await table.get("support-bot") is None

    asyncio.run(main())


def test_the_table_keeps_its_last_known_state_when_the_registry_fails(caplog):
    store, clock = FakeStore(), Clock()
    table = RolloutTable(store, poll_s=1.0, warn_every_s=60.0, clock=clock)
    store.records = [rollout()]
    failures_before = metrics.ROLLOUT_TABLE_REFRESH_FAILURES._value.get()

    async def main():
        assert (await table.get("support-bot")).id == "ro-1"
        store.fail = True
        with caplog.at_level(logging.WARNING, logger="inference_service.rollouts"):
            for _ in range(5):
                clock.now += 1.5
                assert (await table.get("support-bot")).id == "ro-1"
                assert (await table.get("support-bot")).id == "ro-1"  # no retry within the period
        assert store.calls == 6 and table.failures == 5
        store.fail = False
        clock.now += 1.5
        assert await table.refresh() is True

    asyncio.run(main())
    assert metrics.ROLLOUT_TABLE_REFRESH_FAILURES._value.get() - failures_before == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "last known table" in warnings[0].getMessage()


def test_a_table_never_read_routes_nothing_when_the_registry_is_down():
    store = FakeStore()
    store.fail = True
    table = RolloutTable(store, poll_s=1.0)
    assert asyncio.run(table.get("support-bot")) is None
