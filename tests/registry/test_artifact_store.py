"""The artifact store never exposes a half-written file or directory, even after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lorafleet.errors import AlreadyExists, InvalidArgument
from lorafleet.registry.artifacts import TEMP_PREFIX, ArtifactStore
from lorafleet.registry.store import Registry


def _temps(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def test_write_bytes_and_atomic_file(tmp_path):
    store = ArtifactStore(tmp_path)
    path = store.write_bytes("reports/a.json", b'{"ok": true}')
    assert path == tmp_path.resolve() / "reports" / "a.json" and path.read_bytes() == b'{"ok": true}'
    store.write_bytes("reports/a.json", b"v2")
    assert path.read_bytes() == b"v2"
    with pytest.raises(RuntimeError), store.atomic_file("reports/a.json") as fh:
        fh.write(b"partial")
        raise RuntimeError("writer failed")
    assert path.read_bytes() == b"v2"  # the old content survives a failed rewrite
    with pytest.raises(RuntimeError), store.atomic_file("reports/new.bin") as fh:
        fh.write(b"partial")
        raise RuntimeError("writer failed")
    assert not (tmp_path / "reports" / "new.bin").exists()
    assert _temps(tmp_path) == []


def test_atomic_dir_publishes_only_on_success(tmp_path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(ValueError), store.atomic_dir("adapters/x/1") as staged:
        (staged / "adapter_config.json").write_text("{}")
        raise ValueError("copy failed")
    assert not store.path("adapters/x/1").exists()
    with store.atomic_dir("adapters/x/1") as staged:
        assert staged.name.startswith(TEMP_PREFIX) and staged.parent == store.path("adapters/x")
        (staged / "adapter_config.json").write_text("{}")
        assert not store.path("adapters/x/1").exists()  # invisible until the block ends
    assert (store.path("adapters/x/1") / "adapter_config.json").read_text() == "{}"
    with pytest.raises(AlreadyExists), store.atomic_dir("adapters/x/1") as staged:
        (staged / "f").write_text("new")
    with store.atomic_dir("adapters/x/1", replace=True) as staged:
        (staged / "f").write_text("new")
    assert sorted(p.name for p in store.path("adapters/x/1").iterdir()) == ["f"]
    assert store.remove_tree("adapters/x/1") and not store.path("adapters/x/1").exists()
    assert not store.remove_tree("adapters/x/1")
    assert _temps(tmp_path) == []


@pytest.mark.parametrize("relpath",
                         ["", "/etc/passwd", "../up", "a/../../b", ".hidden/x", "a/.lftmp-x", "a\\b", "bot\n/1"])
def test_path_refuses_escapes_and_temp_names(tmp_path, relpath):
    with pytest.raises(InvalidArgument) as err:
        ArtifactStore(tmp_path).path(relpath)
    assert err.value.field == "relpath"


WRITER = textwrap.dedent("""
    import sys, time
    from lorafleet.registry.artifacts import ArtifactStore
    root, mode = sys.argv[1], sys.argv[2]
    store = ArtifactStore(root)
    chunk = b"x" * (1 << 20)
    if mode == "dir":
        with store.atomic_dir("adapters/bot/1") as staged:
            (staged / "adapter_config.json").write_text("{}")
            with open(staged / "adapter_model.safetensors", "wb") as fh:
                fh.write(chunk)
                fh.flush()
                print("writing", flush=True)
                while True:
                    fh.write(chunk)
                    time.sleep(0.01)
    else:
        with store.atomic_file("reports/big.bin") as fh:
            fh.write(chunk)
            fh.flush()
            print("writing", flush=True)
            while True:
                fh.write(chunk)
                time.sleep(0.01)
""")


@pytest.mark.parametrize("mode,relpath", [("dir", "adapters/bot/1"), ("file", "reports/big.bin")])
def test_sigkill_mid_write_leaves_nothing_visible_and_restart_cleans(tmp_path, mode, relpath):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), mode], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    target = tmp_path / relpath
    assert not target.exists()
    leftovers = _temps(tmp_path)
    assert len(leftovers) == 1 and f"-{proc.pid}-" in leftovers[0].name
    ArtifactStore(tmp_path)  # a restart: the writer's pid is dead, so its temp goes
    assert _temps(tmp_path) == []
    assert not target.exists()


def test_clean_temp_keeps_live_writers_and_removes_stale(tmp_path):
    store = ArtifactStore(tmp_path)
    live = store.stage_dir("adapters/bot/1")  # this process is alive: a restart elsewhere keeps it
    stale = tmp_path / "adapters" / f"{TEMP_PREFIX}otherhost-1-abcd-2"
    stale.mkdir()
    old = time.time() - 2 * store.stale_after_s
    os.utime(stale, (old, old))
    recent_foreign = tmp_path / "adapters" / f"{TEMP_PREFIX}otherhost-1-abcd-3"
    recent_foreign.mkdir()
    removed = ArtifactStore(tmp_path, clean=False).clean_temp()
    assert removed == [stale]
    assert live.is_dir() and recent_foreign.is_dir()


def test_unregistered_complete_dir_is_replaced_by_next_registration(tmp_path, adapter_dir, tiny_spec):
    """A crash between the rename and the commit leaves a whole dir no row points at."""
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "artifacts")
    try:
        orphan = registry.artifacts.path("adapters/bot/1")
        orphan.mkdir(parents=True)
        (orphan / "stale.txt").write_text("from a crashed registration")
        rec = registry.register_version("bot", adapter_dir, base_spec=tiny_spec, lineage={})
        assert rec.version == 1
        assert sorted(p.name for p in orphan.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
        assert _temps(tmp_path) == []
    finally:
        registry.close()
