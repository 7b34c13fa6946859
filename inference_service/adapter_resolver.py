"""From an adapter reference to host tensors: registry lookup, alias TTL cache, base check.

Aliases move (promote, rollback) while the server runs. A reference ``name@alias`` is
re-resolved through the registry once its cached answer is older than ``alias_poll_s``, so
a move takes effect within that time without a restart; a request keeps the ``HostAdapter`` of
the version it resolved to, so requests already running finish on their version. Concrete
versions (``name@3``) are cached for the same time (a deleted version disappears within it).

Registry outage (the database restarts, its connections are killed): a reference whose refresh
fails with UNAVAILABLE keeps its last known resolution, with a warning and
``lorafleet_registry_lookup_failures_total{outcome="stale"}``, and is tried again ``alias_ttl_s``
later, so Generate keeps serving the aliases it knows. Only a reference never resolved by this
process fails (UNAVAILABLE, ``outcome="failed"``). An answer of the registry (NOT_FOUND, a foreign
base) is never papered over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inference_service.metrics import REGISTRY_LOOKUP_FAILURES
from inference_service.model.adapter_weights import AdapterKey, HostAdapter
from lorafleet.compute_threads import in_fresh_thread
from lorafleet.errors import FailedPrecondition, Unavailable
from lorafleet.refs import parse_ref
from lorafleet.server.errors import domain_error

if TYPE_CHECKING:
    from inference_service.runtime import Runtime
    from lorafleet.registry.store import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedAdapter:
    ref: str          # "name@3"
    key: AdapterKey
    artifact_path: str


class AdapterResolver:
    def __init__(self, registry: Registry, runtime: Runtime, *, base_fingerprint: str, alias_ttl_s: float) -> None:
        self.registry = registry
        self.runtime = runtime
        self.base_fingerprint = base_fingerprint
        self.alias_ttl_s = alias_ttl_s
        self._alias_cache: dict[tuple[str, str], tuple[float, ResolvedAdapter]] = {}
        self._reads: dict[AdapterKey, asyncio.Future] = {}

    async def resolve(self, text: str, field: str = "adapter") -> ResolvedAdapter | None:
        ref = parse_ref(text, field)
        if ref is None:
            return None
        cache_key = (ref.name, ref.alias if ref.alias is not None else f"#{ref.version}")
        cached = self._alias_cache.get(cache_key)
        if cached and time.monotonic() - cached[0] < self.alias_ttl_s:
            return cached[1]
        try:
            record = await asyncio.to_thread(self.registry.resolve, ref)
        except Exception as exc:
            return self._last_known(cache_key, cached, exc)
        if record.base_fingerprint != self.base_fingerprint:
            raise FailedPrecondition(
                f"{record.ref} was made for base {record.base_fingerprint[:19]}, but this server serves "
                f"{self.base_fingerprint[:19]}", field=field)
        resolved = ResolvedAdapter(ref=record.ref, key=AdapterKey(record.name, record.version),
                                   artifact_path=record.artifact_path)
        previous = self._alias_cache.get(cache_key)
        if previous and previous[1].key != resolved.key:
            log.info("alias moved", extra={"adapter": ref.name, "alias": ref.alias,
                                           "from": previous[1].ref, "to": resolved.ref})
        self._alias_cache[cache_key] = (time.monotonic(), resolved)
        return resolved

    def cached(self, text: str) -> tuple[ResolvedAdapter, HostAdapter] | None:
        """``text``'s fresh cached resolution and host tensors, or None (no registry, no disk, no await)."""
        ref = parse_ref(text)
        if ref is None:
            return None
        hit = self._alias_cache.get((ref.name, ref.alias if ref.alias is not None else f"#{ref.version}"))
        if not hit or not time.monotonic() - hit[0] < self.alias_ttl_s:
            return None
        adapter = self.runtime.adapters.get_host(hit[1].key)
        return (hit[1], adapter) if adapter is not None else None

    async def host_adapter(self, resolved: ResolvedAdapter) -> HostAdapter:
        """The adapter's host tensors, read from disk at most once even under concurrent requests."""
        cached = self.runtime.adapters.get_host(resolved.key)
        if cached is not None:
            return cached
        pending = self._reads.get(resolved.key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut = asyncio.get_running_loop().create_future()
        self._reads[resolved.key] = fut
        try:
            # a fresh thread, not the executor's: see lorafleet.compute_threads
            adapter = await in_fresh_thread(self.runtime.read_adapter, Path(resolved.artifact_path), resolved.key)
            adapter = self.runtime.adapters.put_host(adapter)
            fut.set_result(adapter)
            return adapter
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()  # marks it retrieved; concurrent waiters get it re-raised through shield
            raise
        finally:
            del self._reads[resolved.key]

    def _last_known(self, cache_key: tuple[str, str], cached: tuple[float, ResolvedAdapter] | None,
                    exc: Exception) -> ResolvedAdapter:
        """During a registry outage, the cached resolution (kept for another TTL); re-raises anything else."""
        outage = domain_error(exc)
        if not isinstance(outage, Unavailable):
            raise exc
        if cached is None:
            REGISTRY_LOOKUP_FAILURES.labels(outcome="failed").inc()
            if outage is exc:
                raise exc
            raise outage from exc
        REGISTRY_LOOKUP_FAILURES.labels(outcome="stale").inc()
        age_s = round(time.monotonic() - cached[0], 1)
        log.warning("registry unreachable: serving the last known resolution",
                    extra={"adapter": cached[1].ref, "error": str(outage), "age_s": age_s})
        self._alias_cache[cache_key] = (time.monotonic(), cached[1])
        return cached[1]
