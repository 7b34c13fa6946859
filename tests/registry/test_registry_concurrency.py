"""Concurrent version allocation and alias moves never lose an update (threads and processes)."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lorafleet.errors import Aborted
from lorafleet.registry.schema import SCHEMA_VERSION
from lorafleet.registry.store import Registry

N_VERSIONS = 4


def _assert_chain(registry: Registry, name: str, alias: str, expected_moves: int) -> None:
    """Every move starts where the one before ended; the count matches the moves made."""
    history = registry.alias_history(name, alias)
    assert len(history) == expected_moves
    assert history[0].from_version == 0
    for before, after in zip(history, history[1:]):
        assert after.from_version == before.to_version, (before, after)
        assert after.from_version != after.to_version
    assert registry.get_alias(name, alias).version == history[-1].to_version


def _seed(registry: Registry, adapter_dir: Path, spec) -> None:
    for _ in range(N_VERSIONS):
        registry.register_version("bot", adapter_dir, base_spec=spec, lineage={})


def test_concurrent_registration_allocates_distinct_versions(registry, adapter_dir, tiny_spec):
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(registry.register_version, "bot", adapter_dir, base_spec=tiny_spec, lineage={})
                   for _ in range(12)]
        versions = sorted(f.result().version for f in futures)
    assert versions == list(range(1, 13))
    dirs = sorted(int(p.name) for p in (registry.artifacts.root / "adapters" / "bot").iterdir())
    assert dirs == versions  # one published dir per version, no temp leftovers


def test_concurrent_alias_moves_from_threads(registry, adapter_dir, tiny_spec):
    _seed(registry, adapter_dir, tiny_spec)
    changed = 0
    lock = threading.Lock()

    def mover(seed: int) -> None:
        nonlocal changed
        rng = random.Random(seed)
        for _ in range(15):
            target = rng.randint(1, N_VERSIONS)
            _alias, previous = registry.set_alias("bot", "production", target, reason=f"t{seed}")
            if previous != target:
                with lock:
                    changed += 1

    threads = [threading.Thread(target=mover, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _assert_chain(registry, "bot", "production", changed)


def test_compare_and_set_moves_are_exact(registry, adapter_dir, tiny_spec):
    """Each thread does read-then-CAS with retry: exactly threads×moves moves must land."""
    _seed(registry, adapter_dir, tiny_spec)
    registry.set_alias("bot", "canary", 1)
    aborted = 0
    lock = threading.Lock()

    def stepper() -> None:
        nonlocal aborted
        for _ in range(10):
            while True:
                current = registry.get_alias("bot", "canary").version
                try:
                    registry.set_alias("bot", "canary", current % N_VERSIONS + 1, expected_current_version=current)
                    break
                except Aborted:
                    with lock:
                        aborted += 1

    with ThreadPoolExecutor(6) as pool:
        for f in [pool.submit(stepper) for _ in range(6)]:
            f.result()
    _assert_chain(registry, "bot", "canary", 1 + 60)
    assert registry.get_alias("bot", "canary").version == (1 + 60 - 1) % N_VERSIONS + 1


MOVER = textwrap.dedent("""
    import os, random, sys, time
    from lorafleet.registry.store import Registry
    url, artifacts, seed, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    reg = Registry(url, artifacts)
    rng = random.Random(seed)
    changed = 0
    while not os.path.exists(go):  # start both loops together so they really interleave
        time.sleep(0.01)
    for _ in range(60):
        target = rng.randint(1, N_VERSIONS)
        _, previous = reg.set_alias("bot", "production", target, reason="p%d" % seed)
        changed += previous != target
    print(changed)
""").replace("N_VERSIONS", str(N_VERSIONS))


def test_concurrent_alias_moves_from_two_processes(database_url, tmp_path, adapter_dir, tiny_spec):
    registry = Registry(database_url, tmp_path / "artifacts")
    try:
        _seed(registry, adapter_dir, tiny_spec)
        go = tmp_path / "go"
        procs = [subprocess.Popen([sys.executable, "-c", MOVER, database_url, str(tmp_path / "artifacts"), str(i),
                                   str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(2)]
        time.sleep(1.5)
        go.touch()
        changed = 0
        for p in procs:
            out, err = p.communicate(timeout=180)
            assert p.returncode == 0, err
            changed += int(out.strip().splitlines()[-1])
        _assert_chain(registry, "bot", "production", changed)
        reasons = {h.reason for h in registry.alias_history("bot", "production")}
        assert reasons == {"p0", "p1"}
    finally:
        registry.close()


OPENER = textwrap.dedent("""
    import os, sys, time
    from lorafleet.registry.store import Registry
    url, artifacts, go = sys.argv[1], sys.argv[2], sys.argv[3]
    while not os.path.exists(go):
        time.sleep(0.005)
    print(Registry(url, artifacts).schema_version)
""")


def test_processes_starting_together_create_the_schema_once(database_url, tmp_path):
    """``lorafleet serve all`` starts three processes on one fresh database at the same time."""
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", OPENER, database_url, str(tmp_path / "artifacts"), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    time.sleep(1.5)
    go.touch()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == str(SCHEMA_VERSION)
    registry = Registry(database_url, tmp_path / "artifacts")
    try:
        import sqlalchemy as sa

        with registry.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM schema_version")).scalar_one() == 1
    finally:
        registry.close()
