"""The artifact store: a directory tree where nothing half-written is ever visible.

Every write goes to a temporary name in the *same directory* as its final name (so the rename
stays on one filesystem and is atomic), is flushed with ``fsync``, and is then moved into place
with ``os.replace``; the parent directory is fsynced so the rename itself survives a power loss.
A reader therefore sees either no file/dir or the complete one — never a prefix of it.

Temporary names start with ``.lftmp-`` and carry the host name and process id of their writer:
``.lftmp-<host>-<pid>-<random>-<final name>``. Dot-prefixed names are never valid artifact paths,
so readers ignore them. :meth:`ArtifactStore.clean_temp` (run at start-up) removes leftovers of
crashed writers: those from this host whose process is gone, and any older than
``stale_after_s`` (other hosts sharing the volume, e.g. Kubernetes pods). Leftovers of live
processes are kept, because ``lorafleet serve all`` runs several processes on one store.
Deletions rename the tree to a temporary name first, so an interrupted delete is cleaned too.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from lorafleet.errors import AlreadyExists, InvalidArgument

log = logging.getLogger(__name__)

TEMP_PREFIX = ".lftmp-"
DEFAULT_STALE_AFTER_S = 24 * 3600.0


def _host_tag() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory's fsync makes its renames and new entries durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """fsync every file and directory under ``path``."""
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            fsync_path(Path(dirpath, name))
        fsync_path(Path(dirpath))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ArtifactStore:
    """Atomic writes under ``root``; see the module docstring for the guarantees."""

    def __init__(self, root: Path, *, clean: bool = True, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.stale_after_s = stale_after_s
        if clean:
            self.clean_temp()

    # -- paths ----------------------------------------------------------------------------
    def path(self, relpath: str) -> Path:
        """Absolute path of ``relpath``; refuses escapes (``..``, absolute) and temp names."""
        if not relpath or not isinstance(relpath, str):
            raise InvalidArgument("must be a non-empty relative path", field="relpath")
        parts = PurePosixPath(relpath).parts
        if PurePosixPath(relpath).is_absolute() or "\\" in relpath:
            raise InvalidArgument(f"{relpath!r} must be relative to the artifact root", field="relpath")
        for part in parts:
            if part in ("..", ".") or part.startswith("."):
                raise InvalidArgument(f"{relpath!r}: components must not be '..' or start with '.'", field="relpath")
            if any(ord(c) < 0x20 or c == "\x7f" for c in part):
                raise InvalidArgument(f"{relpath!r} contains control characters", field="relpath")
        return self.root.joinpath(*parts)

    def _temp_name(self, final_name: str) -> str:
        return f"{TEMP_PREFIX}{_host_tag()}-{os.getpid()}-{os.urandom(4).hex()}-{final_name}"

    # -- directories ----------------------------------------------------------------------
    def stage_dir(self, relpath: str) -> Path:
        """Create an empty temp directory next to where ``relpath`` will live; publish it later."""
        target = self.path(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.parent / self._temp_name(target.name)
        staged.mkdir()
        return staged

    def sync(self, staged: Path) -> None:
        """fsync every file and directory under ``staged`` (call before holding any lock)."""
        fsync_tree(staged)

    def publish(self, staged: Path, relpath: str, *, replace: bool = False, synced: bool = False) -> Path:
        """fsync everything under ``staged`` (unless ``synced``) and rename it to ``relpath`` atomically."""
        target = self.path(relpath)
        if staged.parent != target.parent:
            raise ValueError(f"{staged} must be staged in {target.parent} to be renamed atomically")
        if not synced:
            fsync_tree(staged)
        old: Path | None = None
        if target.exists():
            if not replace:
                raise AlreadyExists(f"{relpath} already exists in the artifact store", field="relpath")
            old = target.parent / self._temp_name(target.name)
            os.replace(target, old)
        os.replace(staged, target)
        fsync_path(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return target

    @contextmanager
    def atomic_dir(self, relpath: str, *, replace: bool = False) -> Iterator[Path]:
        """Yield a temp directory to fill; it appears at ``relpath`` only if the block succeeds."""
        staged = self.stage_dir(relpath)
        try:
            yield staged
            self.publish(staged, relpath, replace=replace)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise

    def remove_tree(self, relpath: str) -> bool:
        """Delete ``relpath`` (file or dir): renamed to a temp name first, so a crash mid-delete
        leaves only a temp leftover, never a half-deleted artifact. Returns whether it existed."""
        target = self.path(relpath)
        if not target.exists():
            return False
        doomed = target.parent / self._temp_name(target.name)
        os.replace(target, doomed)
        fsync_path(target.parent)
        if doomed.is_dir():
            shutil.rmtree(doomed)
        else:
            doomed.unlink()
        return True

    # -- files ----------------------------------------------------------------------------
    @contextmanager
    def atomic_file(self, relpath: str) -> Iterator[BinaryIO]:
        """Yield a binary file to stream into; it replaces ``relpath`` only if the block succeeds."""
        target = self.path(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=self._temp_name(target.name) + "-", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            fsync_path(target.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def write_bytes(self, relpath: str, data: bytes) -> Path:
        with self.atomic_file(relpath) as fh:
            fh.write(data)
        return self.path(relpath)

    # -- recovery -------------------------------------------------------------------------
    def clean_temp(self) -> list[Path]:
        """Remove temp leftovers of crashed writers (see module docstring); returns what went."""
        removed: list[Path] = []
        host = _host_tag()
        now = time.time()
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in list(dirnames) + filenames:
                if not name.startswith(TEMP_PREFIX):
                    continue
                entry = Path(dirpath) / name
                if name in dirnames:
                    dirnames.remove(name)  # never descend into a temp tree
                if not self._is_abandoned(name, entry, host, now):
                    continue
                try:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
                except FileNotFoundError:
                    continue  # another process cleaned it first
                removed.append(entry)
        if removed:
            log.info("removed temp leftovers", extra={"root": str(self.root), "count": len(removed)})
        return removed

    def _is_abandoned(self, name: str, entry: Path, host: str, now: float) -> bool:
        fields = name[len(TEMP_PREFIX):].split("-")  # host tag never contains '-'
        try:
            mtime = entry.lstat().st_mtime
        except FileNotFoundError:
            return False
        if now - mtime > self.stale_after_s:
            return True
        if len(fields) >= 3 and fields[0] == host and fields[1].isdigit():
            return not _pid_alive(int(fields[1]))
        return False
