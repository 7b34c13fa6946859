"""How many intra-op threads the engine uses right now: all of them, or one while the CPU is contended.

A decode step is ~150 parallel regions of 20-100 µs, and each waits for every thread of the pool. When
other processes want the same cores, the scheduler preempts one of our threads for a whole time
slice and the region, and the step, stalls with it: on the 2-core test machine, with other jobs
busy, a single-stream step took 16 ms on one thread and 0.75-1.2 s on two (``compute_threads``; measured
during development with a one-off script, not kept). One thread runs at its fair share instead.

The signal is the kernel's CPU pressure (PSI, ``cpu.pressure`` of the cgroup, else
``/proc/pressure/cpu``): the share of time some runnable task waited for a CPU, read every
``WINDOW_S`` while the engine works. Above ``HIGH`` the engine drops to one thread; at one thread it
goes back to all of them once pressure stayed under ``LOW`` and a back-off has passed (2 s, doubled
after each return that did not last ``STABLE_S``, up to 64 s), so a machine that is only busy
because of our own second thread does not make it flap. Without PSI the thread count stays fixed, and
libgomp's workers sleep soon after each parallel region instead (``lorafleet.compute_threads.configure_openmp``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from lorafleet.compute_threads import read_psi_some_us

log = logging.getLogger(__name__)

WINDOW_S = 0.25
# HIGH: the server's own threads make pressure too. With the project's int4 kernel and fused decode ops a step
# is short enough that the gRPC and event-loop threads, runnable beside the two compute threads, read 0.23-0.26
# on the 2-core machine while it serves 16 streams (benchmarks/served_vs_engine.py), and at 0.20 the governor
# dropped to one thread mid-run: rounds fell from ~530 to ~320 tokens/s. Other processes wanting the cores read
# near 1.0 (some task always waits), so 0.5 keeps those apart.
HIGH, LOW = 0.50, 0.05
BACKOFF_S, MAX_BACKOFF_S, STABLE_S = 2.0, 64.0, 10.0


class ThreadGovernor:
    def __init__(self, max_threads: int, set_threads: Callable[[int], None], *,
                 read_pressure: Callable[[], int | None] = read_psi_some_us,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_threads, self.set_threads = max_threads, set_threads
        self.read_pressure, self.clock = read_pressure, clock
        self.current = max_threads
        self.enabled = max_threads > 1 and read_pressure() is not None
        self.backoff = BACKOFF_S
        self.changed_at = clock()
        self._mark: tuple[float, int] | None = None
        self.pressure = 0.0

    def start(self) -> None:
        """On the worker thread (OpenMP's thread count is a per-thread setting): use all threads."""
        self.set_threads(self.max_threads)

    def tick(self) -> int:
        """Called before each engine step; returns the thread count for it."""
        if not self.enabled:
            return self.current
        now = self.clock()
        if self._mark is None:
            self._mark = (now, self.read_pressure() or 0)
            return self.current
        since, total = self._mark
        if now - since < WINDOW_S:
            return self.current
        latest = self.read_pressure() or total
        self.pressure = max(0.0, (latest - total) / 1e6 / (now - since))
        self._mark = (now, latest)
        if self.current > 1 and self.pressure > HIGH:
            lasted = now - self.changed_at
            self.backoff = BACKOFF_S if lasted >= STABLE_S else min(self.backoff * 2, MAX_BACKOFF_S)
            self._switch(1, now)
        elif self.current == 1 and self.pressure < LOW and now - self.changed_at >= self.backoff:
            self._switch(self.max_threads, now)
        return self.current

    def _switch(self, threads: int, now: float) -> None:
        log.info("engine threads changed", extra={"threads": threads, "cpu_pressure": round(self.pressure, 3),
                                                  "next_backoff_s": self.backoff})
        self.current, self.changed_at = threads, now
        self.set_threads(threads)
