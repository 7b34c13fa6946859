"""Rollouts in the registry, on SQLite and the real PostgreSQL server: one running per name,
compare-and-set updates, an audit trail, retention of live text, live requests and feedback."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lorafleet.errors import Aborted, AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from lorafleet.registry import schema
from lorafleet.registry.models import AdapterState, LiveRequestRecord, RolloutMode, RolloutStage, RolloutState
from lorafleet.registry.store import Registry

CANARY = (RolloutStage(RolloutMode.CANARY, 10), RolloutStage(RolloutMode.CANARY, 50))


def _setup(registry: Registry, adapter_dir: Path, spec, versions: int = 3) -> None:
    for _ in range(versions):
        registry.register_version("bot", adapter_dir, base_spec=spec, lineage={"source": "test"})
    registry.set_alias("bot", "production", 1)


def _start(registry: Registry, rid: str = "ro-1", version: int = 2, stages=CANARY, **kw):
    args = dict(rollout_id=rid, name="bot", candidate_version=version, stages=stages, sampling_rate=0.5,
                policy_name="online-default", policy={"alpha": 0.05}, evaluation_id="eval-1", actor="test")
    return registry.rollouts().create(**{**args, **kw})


def test_start_records_the_incumbent_and_the_first_stage(registry, adapter_dir, tiny_spec):
    _setup(registry, adapter_dir, tiny_spec)
    ro = _start(registry)
    assert (ro.name, ro.incumbent_version, ro.candidate_version) == ("bot", 1, 2)
    assert ro.state is RolloutState.RUNNING and ro.mode is RolloutMode.CANARY and ro.weight_percent == 10
    assert ro.stages == CANARY and ro.stage_index == 0 and ro.revision == 1
    assert registry.rollouts().running() == [ro] and registry.rollouts().find("bot") == ro
    assert [e.action for e in registry.rollouts().events("ro-1")] == ["START"]


def test_a_second_running_rollout_of_a_name_is_refused_and_changes_nothing(registry, adapter_dir, tiny_spec):
    _setup(registry, adapter_dir, tiny_spec)
    first = _start(registry)
    with pytest.raises(AlreadyExists) as err:
        _start(registry, rid="ro-2", version=3)
    assert err.value.field == "adapter" and "already running" in err.value.message
    assert registry.rollouts().running() == [first]
    with pytest.raises(NotFound):
        registry.rollouts().get("ro-2")


def test_concurrent_starts_one_wins(registry, adapter_dir, tiny_spec):
    _setup(registry, adapter_dir, tiny_spec)
    outcomes: list[object] = []

    def start(i: int) -> None:
        try:
            outcomes.append(_start(registry, rid=f"ro-{i}", version=2 + i % 2).id)
        except AlreadyExists as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(o, str) for o in outcomes) == 1
    assert len(registry.rollouts().running()) == 1


@pytest.mark.parametrize("setup,version,kind,text", [
    ("no-production", 2, FailedPrecondition, "no production"),
    ("ok", 1, FailedPrecondition, "already production"),
    ("ok", 9, NotFound, "bot@9 does not exist"),
    ("rejected", 2, FailedPrecondition, "REJECTED"),
])
def test_bad_starts_are_refused(registry, adapter_dir, tiny_spec, setup, version, kind, text):
    for _ in range(2):
        registry.register_version("bot", adapter_dir, base_spec=tiny_spec, lineage={"source": "test"})
    if setup != "no-production":
        registry.set_alias("bot", "production", 1)
    if setup == "rejected":
        registry.set_state("bot", 2, AdapterState.REJECTED)
    with pytest.raises(kind, match=text):
        _start(registry, version=version)
    assert registry.rollouts().list() == []


@pytest.mark.parametrize("stages,field", [
    ((), "stages"),
    ((RolloutStage(RolloutMode.CANARY, 0),), "weight_percent"),
    ((RolloutStage(RolloutMode.CANARY, 101),), "weight_percent"),
    ((RolloutStage(RolloutMode.CANARY, 50), RolloutStage(RolloutMode.CANARY, 25)), "weight_steps"),
    ((RolloutStage(RolloutMode.CANARY, 5), RolloutStage(RolloutMode.SHADOW)), "stages"),
])
def test_bad_stages_are_refused(registry, adapter_dir, tiny_spec, stages, field):
    _setup(registry, adapter_dir, tiny_spec)
    with pytest.raises(InvalidArgument) as err:
        _start(registry, stages=stages)
    assert err.value.field == field


def test_updates_are_compare_and_set_and_audited(registry, adapter_dir, tiny_spec):
    _setup(registry, adapter_dir, tiny_spec)
    ro = _start(registry)
    store = registry.rollouts()
    moved = store.update(ro.id, expected_revision=ro.revision, stage_index=1,
                         event={"action": "NEXT_STAGE", "reason": "stage 0 passed", "actor": "evaluator",
                                "evidence": [{"name": "over_refusal", "decision": "NOT_WORSE"}], "cases": [],
                                "text_expires_at": None})
    assert (moved.stage_index, moved.weight_percent, moved.revision) == (1, 50, 2)
    with pytest.raises(Aborted):  # a writer that read revision 1 lost the race
        store.update(ro.id, expected_revision=1, stats={"x": 1})
    weighted = store.update(ro.id, expected_revision=2, weight_percent=30, stats={"arms": []})
    assert weighted.weight_percent == 30 and weighted.stats == {"arms": []}
    with pytest.raises(InvalidArgument):
        store.update(ro.id, weight_percent=130)
    events = store.events(ro.id)
    assert [e.action for e in events] == ["START", "NEXT_STAGE"]
    assert events[1].evidence == [{"name": "over_refusal", "decision": "NOT_WORSE"}]


def test_finish_is_final_frees_the_name_and_rollback_zeroes_the_weight(registry, adapter_dir, tiny_spec):
    _setup(registry, adapter_dir, tiny_spec)
    ro = _start(registry)
    store = registry.rollouts()
    done = store.finish(ro.id, RolloutState.ROLLED_BACK, reason="over_refusal worse", actor="evaluator",
                        evidence=[{"name": "over_refusal"}], cases=[{"request_id": "r1", "prompt": "p", "reply": "r"}])
    assert done.state is RolloutState.ROLLED_BACK and done.weight_percent == 0 and done.finished_at is not None
    assert store.running() == [] and store.find("bot").id == ro.id
    for call in (lambda: store.finish(ro.id, RolloutState.ABORTED, reason="x", actor="y"),
                 lambda: store.update(ro.id, stats={})):
        with pytest.raises(FailedPrecondition, match="already ended ROLLED_BACK"):
            call()
    again = _start(registry, rid="ro-2", version=3)  # the name is free again
    assert store.find("bot").id == again.id  # the running one comes first
    assert registry.resolve("bot").version == 1  # production untouched


def test_text_of_live_cases_expires(registry, adapter_dir, tiny_spec):
    _setup(registry, adapter_dir, tiny_spec)
    ro = _start(registry)
    now = schema.utcnow()
    registry.rollouts().finish(ro.id, RolloutState.ROLLED_BACK, reason="r", actor="a", text_expires_at=now,
                               cases=[{"request_id": "r1", "arm": "CANARY", "prompt": "p", "reply": "x",
                                       "production_reply": "y", "guardrail": "g"}])
    assert registry.rollouts().purge_expired_text(now + timedelta(seconds=1)) == [ro.id]
    (case,) = registry.rollouts().events(ro.id)[-1].cases
    assert case == {"request_id": "r1", "arm": "CANARY", "guardrail": "g"}


def test_live_requests_and_feedback(registry, adapter_dir, tiny_spec):
    live = registry.live()
    t0 = schema.utcnow()
    rows = [LiveRequestRecord(f"r{i}", "bot", 1 + i % 2, "PRODUCTION", "", t0) for i in range(4)]
    assert live.record_requests(rows) == 4
    assert live.record_requests(rows[:2]) == 0  # known ids are ignored
    assert live.request("r1").version == 2
    with pytest.raises(NotFound) as err:
        live.request("nope")
    assert err.value.field == "request_id"
    live.add_feedback("r1", 0.0, "[redacted] was rude", t0 + timedelta(days=1))
    with pytest.raises(AlreadyExists):
        live.add_feedback("r1", 1.0, "", None)
    assert live.feedback("r1") == (0.0, "[redacted] was rude")
    assert live.purge(requests_before=t0 - timedelta(days=1), now=t0 + timedelta(days=2)) == (0, 1)
    assert live.feedback("r1") == (0.0, "")
    assert live.purge(requests_before=t0 + timedelta(seconds=1)) == (4, 0)
    assert live.feedback("r1") is None


def test_a_version_1_database_is_migrated(database_url, tmp_path):
    """A registry created before online evaluation gains the rollout tables, data untouched."""
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        old = [t for t in schema.metadata.sorted_tables if t.name in
               ("schema_version", "adapter_names", "adapter_versions", "aliases", "alias_history", "records")]
        schema.metadata.create_all(conn, tables=old)
        conn.execute(schema.schema_version.insert().values(version=1))
    engine.dispose()
    registry = Registry(database_url, tmp_path / "artifacts")
    try:
        assert registry.schema_version == 2
        assert registry.rollouts().list() == [] and registry.rollouts().running() == []
        with registry.engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) >= {"rollouts", "rollout_events", "live_requests",
                                                                 "live_feedback"}
    finally:
        registry.close()
