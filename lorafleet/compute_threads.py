"""Run one-off torch work in a thread that exits afterwards, so the engine keeps its CPU speed.

Why: PyTorch's CPU kernels use OpenMP (libgomp), and libgomp gives every thread that ever runs
a parallel region its own pool of worker threads, alive until that thread exits. Once the
process holds more pool threads than CPUs, libgomp stops spin-waiting between parallel regions
("throttled" spin) and every small op pays a futex wake-up. ``benchmarks/openmp_pools.py`` on
the 2-core CI box: the bank's ``[16,1,576] @ [16,576,16]`` bmm takes 9 µs on a worker thread
that owns the only pool and 62 µs once the main thread has one too (a 576×576 mm: 88 vs 176 µs);
after the same load in a thread that exited, 9 µs again. A long-lived helper thread that once
loaded a model (``asyncio.to_thread`` reuses executor threads forever) is enough to slow the
engine thread for the life of the process.

Rule: steady-state torch work runs on one long-lived thread (the engine's worker, the trainer's
job worker); model loading, adapter reads and other one-off torch work run here, in a fresh
thread whose pool dies with it.

How many threads (``default_num_threads``): as many as the process may really use, the smaller of
the CPU quota of its cgroup (``cpu.max`` in cgroup v2, ``cpu.cfs_quota_us / cpu.cfs_period_us`` in
v1; a quota of 1.5 CPUs gives 1) and its affinity mask. torch's own default counts the affinity
mask only: a pod limited to 2 CPUs on a 64-core node would run 64 threads, each parallel region
then waiting on threads the quota has throttled. ``LORAFLEET_NUM_THREADS`` overrides it.

How they wait (``configure_openmp``): libgomp's workers spin a while (``GOMP_SPINCOUNT`` rounds of ``pause``,
about 25 ns each on the 2-core Zen 4 test machine) after a parallel region before they sleep on a futex, and a
region that finds a worker asleep waits for it to be woken (a futex call and, on a VM, an idle vCPU brought back).
A decode step is a few hundred regions with Python between them: the shorter the spin, the more of them pay that. On a
shared machine, though, spinning threads burn the CPU share other runnable threads need, and a region waits for
whichever of its threads the scheduler preempted: with other jobs running, one decode step of 2 spinning threads
took 0.75-1.2 s against 16 ms on one thread (measured during development with a one-off script, not kept).

So the spin count follows what handles contention (``spin_count``). Where the kernel reports CPU pressure (PSI,
the ``read_psi_some_us`` files) the engine's thread governor (``inference_service.engine.threads``) drops to one
thread while other processes want the cores, and a one-thread engine has no workers to spin: the spin count is
then libgomp's own default, 300,000 (~7.5 ms, longer than any gap of a busy engine). Without PSI nothing else
protects a contended engine, and under a cgroup CPU quota (a pod's CPU limit) the time spent spinning is charged to
the quota while the server's gRPC and event-loop threads want it too, and throttling need not show as pressure:
both get 1,000 (~25 µs), as every server did before (a deployment that measures otherwise sets ``GOMP_SPINCOUNT``).
``configure_openmp`` sets it before torch loads libgomp, unless the environment already chose.
``benchmarks/engine_speed.py --baseline-ref HEAD --env GOMP_SPINCOUNT=300000 --baseline-env GOMP_SPINCOUNT=1000
[--busy 2]`` compares the two on the engine
(``engine_speed_spin_count.json``, ``_run2.json``, ``_busy.json``; 2-core Zen 4, PSI, no quota). Quiet, 300,000 was
faster in every one of ten interleaved rounds on 16 x 32 on one adapter (medians 562 against 531 and 566 against
503 tokens/s) and in nine of ten on the bare base (636 / 606, 650 / 612); one stream with an adapter 132 / 119 and
138 / 126. With one busy process per core the two are the same within the rounds' spread (ratios 0.94-1.04): the
governor runs one thread there. Until this choice the server set 1,000 on every machine, while the benchmarks
that build the engine in-process ran at libgomp's default; they now call ``configure_openmp`` too.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


def call_in_fresh_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a new thread, joined before returning; exceptions propagate."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"lorafleet-oneoff-{getattr(fn, '__name__', 'call')}", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


async def in_fresh_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Async twin of ``call_in_fresh_thread``: the event loop keeps running while ``fn`` works."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():  # the awaiting task was cancelled; nobody wants the result
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            ok, value = False, exc
        else:
            ok, value = True, result
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:  # the loop closed while fn ran (shutdown): the result has no reader
            log.debug("event loop closed before a one-off thread finished", extra={"fn": getattr(fn, "__name__", "?")})

    threading.Thread(target=target, name=f"lorafleet-oneoff-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    return await future


SPIN_WITH_PSI = "300000"    # libgomp's default: the governor handles contention
SPIN_WITHOUT_PSI = "1000"   # nothing else does: sleep soon
PSI_FILES = (Path("/sys/fs/cgroup/cpu.pressure"), Path("/proc/pressure/cpu"))
CGROUP = Path("/sys/fs/cgroup")


def read_psi_some_us(paths: tuple[Path, ...] = PSI_FILES) -> int | None:
    """Cumulative microseconds some task waited for a CPU (the ``some ... total=`` field), or None."""
    for path in paths:
        try:
            line = path.read_text().splitlines()[0]
        except (OSError, IndexError):
            continue
        for field in line.split():
            if field.startswith("total="):
                return int(field[6:])
    return None


def spin_count(psi_paths: tuple[Path, ...] = PSI_FILES, root: Path = CGROUP) -> tuple[str, str]:
    """``(GOMP_SPINCOUNT, why)`` for this process (module docstring)."""
    if read_psi_some_us(psi_paths) is None:
        return SPIN_WITHOUT_PSI, "no CPU pressure (PSI) to read: no thread governor"
    quota = cgroup_cpu_limit(root)
    if quota is not None:  # time spent spinning is charged to the quota, and throttling need not show as pressure
        return SPIN_WITHOUT_PSI, f"cgroup CPU quota {quota:g}: spinning would spend it"
    return SPIN_WITH_PSI, "CPU pressure (PSI) readable and no CPU quota: the thread governor handles contention"


def configure_openmp(environ: dict[str, str] | None = None, *, psi_paths: tuple[Path, ...] = PSI_FILES,
                     root: Path = CGROUP, torch_loaded: bool | None = None) -> bool:
    """Set libgomp's spin count (``spin_count``) unless chosen already; True when it can still take effect
    (torch not loaded yet; ``torch_loaded`` overrides that check for tests)."""
    env = os.environ if environ is None else environ
    loaded = "torch" in sys.modules if torch_loaded is None else torch_loaded
    if "GOMP_SPINCOUNT" in env or "OMP_WAIT_POLICY" in env:
        return not loaded
    if loaded:
        log.debug("torch is loaded already: libgomp keeps its spin count")
        return False
    env["GOMP_SPINCOUNT"], why = spin_count(psi_paths, root)
    log.info("OpenMP spin count", extra={"gomp_spincount": env["GOMP_SPINCOUNT"], "why": why})
    return True


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(root: Path = CGROUP) -> float | None:
    """CPUs the cgroup quota allows (None: no quota), from cgroup v2 ``cpu.max`` or v1 CFS files."""
    v2 = _read(root / "cpu.max")
    if v2:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100000)
    for v1 in (root / "cpu", root / "cpu,cpuacct"):
        quota, period = _read(v1 / "cpu.cfs_quota_us"), _read(v1 / "cpu.cfs_period_us")
        if quota and period and int(quota) > 0:
            return int(quota) / int(period)
    return None


def default_num_threads(root: Path = CGROUP) -> tuple[int, str]:
    """``(threads, why)``: the smaller of the cgroup CPU quota (rounded down, at least 1) and the affinity mask."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_limit(root)
    if quota is None:
        return affinity, f"affinity mask of {affinity} CPUs, no cgroup CPU quota"
    return max(1, min(affinity, math.floor(quota))), f"cgroup CPU quota {quota:g}, affinity mask of {affinity} CPUs"


def resolve_num_threads(setting: int = 0, environ: Mapping[str, str] | None = None,
                        root: Path = CGROUP) -> tuple[int, str]:
    """The engine's intra-op threads: ``setting`` (``LORAFLEET_NUM_THREADS``) when > 0, else the default."""
    if setting > 0:
        return setting, "LORAFLEET_NUM_THREADS"
    return default_num_threads(root)
