"""Registry behaviour on SQLite and on the real PostgreSQL server (parametrized ``registry``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorafleet.adapters.synthetic import write_lora_adapter
from lorafleet.errors import Aborted, AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from lorafleet.refs import AdapterRef
from lorafleet.registry.models import AdapterState
from lorafleet.registry.schema import SCHEMA_VERSION
from lorafleet.registry.store import Registry


def _register(registry: Registry, name: str, adapter_dir: Path, spec, **kw):
    return registry.register_version(name, adapter_dir, base_spec=spec, lineage={"source": "test"}, **kw)


def test_register_allocates_versions_and_copies_artifact(registry, adapter_dir, tiny_spec):
    v1 = _register(registry, "bot", adapter_dir, tiny_spec, metrics={"loss": 1.5}, description="first")
    v2 = _register(registry, "bot", adapter_dir, tiny_spec)
    other = _register(registry, "other", adapter_dir, tiny_spec)
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert v1.ref == "bot@1" and v1.state is AdapterState.CANDIDATE
    assert v1.base_fingerprint == tiny_spec.fingerprint
    assert v1.lora.r == 4 and v1.lora.alpha == 8.0 and v1.lora.target_modules == ("q_proj", "v_proj")
    assert v1.resolved_target_modules == tuple(sorted(
        f"model.layers.{i}.self_attn.{m}" for i in range(2) for m in ("q_proj", "v_proj")))
    assert v1.metrics == {"loss": 1.5} and v1.description == "first" and v1.lineage == {"source": "test"}
    stored = Path(v1.artifact_path)
    assert stored.parent.parent == registry.artifacts.root / "adapters"
    assert sorted(p.name for p in stored.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert ((stored / "adapter_model.safetensors").read_bytes()
            == (adapter_dir / "adapter_model.safetensors").read_bytes())
    assert v1.size_bytes == sum(p.stat().st_size for p in stored.iterdir())
    assert v1.created_at.tzinfo is not None
    assert registry.get_version("bot", 1) == v1


def test_register_skips_pickle_files_and_validates(registry, adapter_dir, tiny_spec):
    (adapter_dir / "training_args.bin").write_bytes(b"pickle")
    rec = _register(registry, "bot", adapter_dir, tiny_spec)
    assert not (Path(rec.artifact_path) / "training_args.bin").exists()
    with pytest.raises(InvalidArgument) as err:
        _register(registry, "Bad Name", adapter_dir, tiny_spec)
    assert err.value.field == "name"
    with pytest.raises(InvalidArgument) as err:
        _register(registry, "bot", adapter_dir, tiny_spec, metrics={"loss": float("nan")})
    assert err.value.field == "metrics"
    # Nothing was half-registered by the refusals.
    assert [v.version for v in registry.list_versions("bot")] == [1]


def test_versions_are_never_reused_after_delete(registry, adapter_dir, tiny_spec):
    _register(registry, "bot", adapter_dir, tiny_spec)
    v2 = _register(registry, "bot", adapter_dir, tiny_spec)
    deleted = registry.delete_version("bot", 2)
    assert deleted.version == 2 and not Path(v2.artifact_path).exists()
    assert _register(registry, "bot", adapter_dir, tiny_spec).version == 3
    with pytest.raises(NotFound):
        registry.get_version("bot", 2)


def test_resolve_by_version_alias_and_default(registry, adapter_dir, tiny_spec):
    _register(registry, "bot", adapter_dir, tiny_spec)
    _register(registry, "bot", adapter_dir, tiny_spec)
    with pytest.raises(NotFound, match="no alias 'production'"):
        registry.resolve("bot")
    with pytest.raises(NotFound, match="'ghost' does not exist"):
        registry.resolve("ghost")
    with pytest.raises(NotFound, match="bot@9 does not exist"):
        registry.resolve("bot@9")
    registry.set_alias("bot", "production", 1)
    registry.set_alias("bot", "canary", 2)
    assert registry.resolve("bot").version == 1
    assert registry.resolve(AdapterRef("bot", alias="canary")).version == 2
    assert registry.resolve("bot@2").aliases == ("canary",)
    with pytest.raises(InvalidArgument):
        registry.resolve("")
    with pytest.raises(InvalidArgument):  # beyond INTEGER: refused before it reaches the database
        registry.resolve("bot@99999999999")


def test_list_versions_filters_and_pages(registry, adapter_dir, tiny_spec):
    for name in ("b", "a", "b"):
        _register(registry, name, adapter_dir, tiny_spec)
    registry.set_state("b", 1, AdapterState.REJECTED)
    assert [v.ref for v in registry.list_versions()] == ["a@1", "b@2", "b@1"]
    assert [v.ref for v in registry.list_versions("b")] == ["b@2", "b@1"]
    assert [v.ref for v in registry.list_versions(state=AdapterState.REJECTED)] == ["b@1"]
    assert [v.ref for v in registry.list_versions(limit=2, offset=1)] == ["b@2", "b@1"]
    with pytest.raises(InvalidArgument):
        registry.list_versions(state="DONE")


def test_alias_moves_history_and_rollback(registry, adapter_dir, tiny_spec):
    for _ in range(3):
        _register(registry, "bot", adapter_dir, tiny_spec)
    with pytest.raises(FailedPrecondition, match="no previous version"):
        registry.rollback_alias("bot", "production")
    alias, prev = registry.set_alias("bot", "production", 1, reason="first")
    assert (alias.version, prev) == (1, 0)
    with pytest.raises(FailedPrecondition, match="no previous version"):
        registry.rollback_alias("bot", "production")  # the only move created the alias
    assert registry.set_alias("bot", "production", 2)[1] == 1
    assert registry.set_alias("bot", "production", 3)[1] == 2
    alias, prev = registry.rollback_alias("bot", "production", reason="bad outputs")
    assert (alias.version, prev) == (2, 3)
    history = registry.alias_history("bot", "production")
    assert [(h.from_version, h.to_version) for h in history] == [(0, 1), (1, 2), (2, 3), (3, 2)]
    assert history[0].reason == "first" and history[-1].reason == "rollback: bad outputs"
    # Rolling back a rollback returns to where the rollback started.
    assert registry.rollback_alias("bot", "production")[0].version == 3
    assert registry.get_alias("bot", "production").version == 3
    assert registry.get_alias("bot", "canary") is None
    assert [a.alias for a in registry.list_aliases("bot")] == ["production"]


def test_alias_rules(registry, adapter_dir, tiny_spec):
    _register(registry, "bot", adapter_dir, tiny_spec)
    _register(registry, "bot", adapter_dir, tiny_spec)
    with pytest.raises(NotFound) as err:
        registry.set_alias("bot", "production", 7)
    assert err.value.field == "version"
    with pytest.raises(NotFound):
        registry.set_alias("ghost", "production", 1)
    registry.set_state("bot", 2, AdapterState.REJECTED)
    with pytest.raises(FailedPrecondition, match="REJECTED"):
        registry.set_alias("bot", "production", 2)
    registry.set_alias("bot", "canary", 2)  # other aliases may point at a rejected version
    registry.set_alias("bot", "production", 1)
    with pytest.raises(Aborted) as err:
        registry.set_alias("bot", "production", 1, expected_current_version=2)
    assert err.value.field == "expected_current_version"
    with pytest.raises(Aborted):
        registry.set_alias("bot", "staging", 1, expected_current_version=1)
    assert registry.set_alias("bot", "staging", 1, expected_current_version=0)[1] == 0
    # Setting the same version again is a no-op without a history entry.
    before = len(registry.alias_history("bot"))
    assert registry.set_alias("bot", "production", 1)[1] == 1
    assert len(registry.alias_history("bot")) == before
    with pytest.raises(FailedPrecondition, match="move or roll back"):
        registry.set_state("bot", 1, AdapterState.REJECTED)
    with pytest.raises(InvalidArgument) as err:
        registry.set_alias("bot", "Prod!", 1)
    assert err.value.field == "alias"


def test_delete_refused_while_aliased(registry, adapter_dir, tiny_spec):
    v1 = _register(registry, "bot", adapter_dir, tiny_spec)
    _register(registry, "bot", adapter_dir, tiny_spec)
    registry.set_alias("bot", "production", 1)
    with pytest.raises(FailedPrecondition, match="bot@production"):
        registry.delete_version("bot", 1)
    assert Path(v1.artifact_path).is_dir()
    registry.set_alias("bot", "production", 2)
    registry.delete_version("bot", 1)
    assert not Path(v1.artifact_path).exists()
    with pytest.raises(FailedPrecondition, match="deleted"):
        registry.rollback_alias("bot", "production")
    with pytest.raises(NotFound):
        registry.delete_version("bot", 1)


def test_state_evaluations_and_metrics(registry, adapter_dir, tiny_spec):
    _register(registry, "bot", adapter_dir, tiny_spec, metrics={"loss": 2.0})
    rec = registry.set_state("bot", 1, "EVALUATING", expected_state=AdapterState.CANDIDATE)
    assert rec.state is AdapterState.EVALUATING and rec.updated_at >= rec.created_at
    with pytest.raises(Aborted):
        registry.set_state("bot", 1, AdapterState.PROMOTED, expected_state=AdapterState.CANDIDATE)
    rec = registry.record_evaluation("bot", 1, {"evaluation_id": "ev-1", "verdict": "promote",
                                                "report_json_path": "/r.json", "report_html_path": "/r.html"})
    assert rec.evaluations[0]["evaluation_id"] == "ev-1" and "created_at" in rec.evaluations[0]
    rec = registry.record_evaluation("bot", 1, {"evaluation_id": "ev-2", "verdict": "reject"})
    assert [e["evaluation_id"] for e in rec.evaluations] == ["ev-1", "ev-2"]
    rec = registry.update_metrics("bot", 1, {"accuracy": 0.75})
    assert rec.metrics == {"loss": 2.0, "accuracy": 0.75}
    with pytest.raises(InvalidArgument):
        registry.record_evaluation("bot", 1, {"verdict": "x"})
    with pytest.raises(NotFound):
        registry.update_metrics("bot", 5, {"a": 1.0})
    with pytest.raises(InvalidArgument):
        registry.get_version("bot", 2**40)


def test_records_store(registry):
    jobs = registry.records("training_jobs")
    a = jobs.put("job-a", state="QUEUED", subject="bot", payload={"epochs": 2})
    jobs.put("job-b", state="RUNNING", subject="other", payload={})
    assert a.kind == "training_jobs" and a.payload == {"epochs": 2}
    assert [r.id for r in jobs.list()] == ["job-b", "job-a"]
    assert [r.id for r in jobs.list(state="QUEUED")] == ["job-a"]
    assert [r.id for r in jobs.list(subject="other")] == ["job-b"]
    assert registry.records("evaluations").list() == []  # kinds are separate
    with pytest.raises(AlreadyExists) as err:
        jobs.put("job-a", state="QUEUED", payload={})
    assert err.value.field == "id"
    updated = jobs.update("job-a", state="RUNNING", payload={"step": 3}, expected_state="QUEUED")
    assert updated.state == "RUNNING" and updated.payload == {"epochs": 2, "step": 3}
    with pytest.raises(Aborted):
        jobs.update("job-a", state="DONE", expected_state="QUEUED")
    with pytest.raises(NotFound):
        jobs.update("nope", state="DONE")
    assert jobs.get("nope") is None and jobs.get("job-a").payload["step"] == 3
    with pytest.raises(InvalidArgument):
        jobs.put("x", state="Q", payload={"v": float("inf")})
    with pytest.raises(InvalidArgument):
        registry.records("Bad Kind")


def test_reopen_keeps_data_and_schema_version(database_url, tmp_path, adapter_dir, tiny_spec):
    first = Registry(database_url, tmp_path / "artifacts")
    _register(first, "bot", adapter_dir, tiny_spec)
    first.set_alias("bot", "production", 1)
    first.close()
    again = Registry(database_url, tmp_path / "artifacts")
    try:
        assert again.resolve("bot").version == 1
        assert again.schema_version == SCHEMA_VERSION == 2
    finally:
        again.close()


def test_newer_schema_is_refused(database_url, tmp_path):
    import sqlalchemy as sa

    Registry(database_url, tmp_path / "a").close()
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = 99"))
    engine.dispose()
    with pytest.raises(FailedPrecondition, match="newer"):
        Registry(database_url, tmp_path / "a")


def test_lineage_must_be_json(registry, adapter_dir, tiny_spec):
    with pytest.raises(InvalidArgument) as err:
        registry.register_version("bot", adapter_dir, base_spec=tiny_spec, lineage={"when": object()})
    assert err.value.field == "lineage"
    rec = registry.register_version("bot", adapter_dir, base_spec=tiny_spec,
                                    lineage={"source": "trained", "config": {"lr": 1e-4}})
    assert json.dumps(rec.lineage, sort_keys=True) == '{"config": {"lr": 0.0001}, "source": "trained"}'


def test_refused_adapter_leaves_nothing_behind(registry, tmp_path, tiny_spec):
    bad = write_lora_adapter(tmp_path / "bad", tiny_spec, extra_config={"r": 8})
    with pytest.raises(InvalidArgument, match="rank mismatch"):
        registry.register_version("bot", bad, base_spec=tiny_spec, lineage={})
    assert registry.list_versions() == []
    leftovers = list((registry.artifacts.root).rglob("*"))
    assert all(p.is_dir() for p in leftovers), leftovers
