"""The running rollouts, as this inference replica knows them (learned like aliases).

The evaluator writes rollout rows to the registry; every inference replica routes by them. The
table is re-read (``registry.rollouts().running()``) when a request needs it and the last read is
older than ``alias_poll_s``: one query per period, never one per request, and concurrent requests
share the read in flight. A start, stage change or end of a rollout therefore takes effect within
that period, like an alias move.

When the registry cannot be read, the last known table keeps serving (the period restarts, so a
down database is not hammered): the failure is counted
(``lorafleet_rollout_table_refresh_failures_total``) and logged at most once per ``warn_every_s``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from inference_service import metrics

if TYPE_CHECKING:
    from lorafleet.registry.models import RolloutRecord
    from lorafleet.registry.store import Registry

log = logging.getLogger(__name__)


class RolloutTable:
    def __init__(self, registry: Registry, *, poll_s: float, warn_every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self.poll_s = poll_s
        self.warn_every_s = warn_every_s
        self._clock = clock
        self._by_name: dict[str, RolloutRecord] = {}
        self._read_at: float | None = None
        self._reading: asyncio.Task[bool] | None = None
        self._warned_at = -math.inf
        self._unwarned_failures = 0
        self.failures = 0

    async def get(self, name: str) -> RolloutRecord | None:
        """The RUNNING rollout of adapter ``name``, if any (re-reading the table when it is stale)."""
        if self._read_at is None or not self._clock() - self._read_at < self.poll_s:
            await self.refresh()
        return self._by_name.get(name)

    def snapshot(self) -> dict[str, RolloutRecord]:
        return dict(self._by_name)

    async def refresh(self) -> bool:
        """Re-read the running rollouts now; False when the registry failed (the last table stays).

        One read at a time: concurrent callers await the one in flight, and a caller that is
        cancelled does not cancel it for the others.
        """
        task = self._reading
        if task is None:
            task = self._reading = asyncio.get_running_loop().create_task(self._read())
            task.add_done_callback(self._read_done)
        return await asyncio.shield(task)

    def _read_done(self, task: asyncio.Task[bool]) -> None:
        if self._reading is task:
            self._reading = None

    async def _read(self) -> bool:
        try:
            records = await asyncio.to_thread(self.registry.rollouts().running)
        except Exception as exc:
            self._read_at = self._clock()
            self._failed(exc)
            return False
        table = {r.name: r for r in records if r.running}
        self._log_changes(table)
        self._by_name, self._read_at = table, self._clock()
        return True

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self._unwarned_failures += 1
        metrics.ROLLOUT_TABLE_REFRESH_FAILURES.inc()
        now = self._clock()
        if now - self._warned_at >= self.warn_every_s:
            log.warning("cannot read the running rollouts; routing by the last known table",
                        extra={"error": f"{type(exc).__name__}: {exc}"[:500], "failures": self._unwarned_failures,
                               "rollouts": sorted(self._by_name)})
            self._warned_at, self._unwarned_failures = now, 0

    def _log_changes(self, table: dict[str, RolloutRecord]) -> None:
        def stage(r: RolloutRecord) -> tuple[str, str, float, float]:
            return r.id, r.mode.value, r.weight_percent, r.sampling_rate

        for name in sorted(set(table) | set(self._by_name)):
            new, old = table.get(name), self._by_name.get(name)
            if (new and stage(new)) != (old and stage(old)):
                log.info("rollout table changed", extra={
                    "adapter": name, "rollout_id": (new or old).id,
                    "now": f"{new.mode.value} {new.weight_percent:g}% of {new.candidate_ref}" if new else "ended"})
