"""Two-tier adapter cache: host memory (read from disk) and device bank slots.

Host tier: up to ``host_capacity`` adapters as tensors in host memory, LRU-ordered. Device tier:
``num_slots`` bank slots; an adapter in a slot is *held* while any running sequence uses it
(``refcount > 0``) and is never evicted then. Making room evicts the least-recently-used slot
that nobody holds; if every slot is held, the sequence waits (``acquire`` returns None).

Slot writes (``acquire``/``unload``) happen on the engine worker thread, between forward passes,
so no lock is held across a forward; the bookkeeping lock only guards the dictionaries that the
asyncio thread reads for ListLoadedAdapters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from inference_service import metrics
from inference_service.model.adapter_weights import AdapterKey, HostAdapter
from inference_service.model.lora_bank import LoRABankLinear
from lorafleet.errors import FailedPrecondition, NotFound

log = logging.getLogger(__name__)


@dataclass
class AdapterEntry:
    adapter: HostAdapter
    slot: int = 0  # 0 = host tier only
    refcount: int = 0
    last_used: float = 0.0  # time.time()
    requests_served: int = 0


@dataclass(frozen=True)
class AdapterInfo:
    key: AdapterKey
    slot: int
    rank: int
    target_modules: tuple[str, ...]
    last_used: float
    requests_served: int
    active_requests: int


class AdapterCache:
    def __init__(self, layers: dict[str, LoRABankLinear], *, num_slots: int, host_capacity: int) -> None:
        self.layers = layers
        self.num_slots = num_slots
        self.host_capacity = host_capacity
        self._entries: OrderedDict[AdapterKey, AdapterEntry] = OrderedDict()  # LRU order, oldest first
        self._slot_owner: dict[int, AdapterKey] = {}
        self._lock = threading.Lock()
        self.hits = self.loads = self.evictions = 0

    # -- host tier (any thread) ------------------------------------------------------------
    def get_host(self, key: AdapterKey) -> HostAdapter | None:
        with self._lock:
            entry = self._entries.get(key)
            return entry.adapter if entry else None

    def put_host(self, adapter: HostAdapter) -> HostAdapter:
        """Insert (or return the already cached copy); drops the coldest host-only entries."""
        with self._lock:
            entry = self._entries.get(adapter.key)
            if entry is not None:
                return entry.adapter
            self._entries[adapter.key] = AdapterEntry(adapter=adapter, last_used=time.time())
            self._trim_host_locked()
            return adapter

    def _trim_host_locked(self) -> None:
        excess = len(self._entries) - self.host_capacity
        for key in list(self._entries):
            if excess <= 0:
                break
            entry = self._entries[key]
            if entry.slot == 0 and entry.refcount == 0:
                del self._entries[key]
                excess -= 1

    # -- device tier (worker thread) --------------------------------------------------------
    def acquire(self, adapter: HostAdapter) -> int | None:
        """Hold ``adapter`` in a slot for one sequence; returns the slot or None if all are held.

        The entry is held (``refcount``) from the moment its slot is chosen, so a concurrent
        ``put_host`` trimming the host tier cannot drop it while its weights are being copied.
        """
        with self._lock:
            entry = self._entries.get(adapter.key)
            if entry is None:
                entry = AdapterEntry(adapter=adapter)
                self._entries[adapter.key] = entry
            self._entries.move_to_end(adapter.key)
            entry.refcount += 1
            entry.last_used = time.time()
            entry.requests_served += 1
            if entry.slot:
                self.hits += 1
                metrics.ADAPTER_HITS.inc()
                return entry.slot
            slot = self._free_slot_locked()
            if slot is None:
                entry.refcount -= 1
                entry.requests_served -= 1
                return None
            entry.slot = slot
            self._slot_owner[slot] = adapter.key
        # the copy happens outside the lock; only the engine worker thread writes slots
        t0 = time.perf_counter()
        try:
            self._write_slot(slot, entry.adapter)
        except BaseException:
            with self._lock:
                entry.slot, entry.refcount, entry.requests_served = 0, entry.refcount - 1, entry.requests_served - 1
                del self._slot_owner[slot]
            for layer in self.layers.values():
                layer.clear_slot(slot)
            raise
        seconds = time.perf_counter() - t0
        with self._lock:
            self.loads += 1
            self._trim_host_locked()
        metrics.ADAPTER_LOADS.inc()
        metrics.ADAPTER_LOAD_SECONDS.observe(seconds + entry.adapter.read_seconds)
        metrics.ADAPTER_SLOTS_USED.set(len(self._slot_owner))
        log.info("adapter loaded into slot", extra={"adapter": str(adapter.key), "slot": slot,
                                                    "copy_seconds": round(seconds, 4)})
        return slot

    def pin(self, adapter: HostAdapter) -> int | None:
        """Explicit LoadAdapter: put it in a slot without holding it."""
        info = self.load(adapter)
        return info.slot if info is not None else None

    def load(self, adapter: HostAdapter) -> AdapterInfo | None:
        """``pin`` and the entry's state read under the same lock hold (None: every slot is held).

        LoadAdapter answers with this snapshot: reading ``info`` afterwards raced a concurrent
        UnloadAdapter (the entry could be gone by then: issue #15's AttributeError).
        """
        slot = self.acquire(adapter)
        if slot is None:
            return None
        with self._lock:
            entry = self._entries[adapter.key]
            entry.refcount -= 1
            entry.requests_served -= 1
            return self._info(entry)

    def is_held(self, key: AdapterKey) -> bool:
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and entry.slot != 0 and entry.refcount > 0

    def drain_candidate(self) -> AdapterKey | None:
        """The held slot to drain for a blocked request: fewest running holders, least recently used."""
        with self._lock:
            held = [(e.refcount, i, key) for i, (key, e) in enumerate(self._entries.items()) if e.slot and e.refcount]
        return min(held)[2] if held else None

    def release(self, key: AdapterKey) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.refcount <= 0:
                raise RuntimeError(f"release of {key} that is not held")
            entry.refcount -= 1
            entry.last_used = time.time()

    def _free_slot_locked(self) -> int | None:
        for slot in range(1, self.num_slots + 1):
            if slot not in self._slot_owner:
                return slot
        for key, entry in self._entries.items():  # oldest first
            if entry.slot and entry.refcount == 0:
                slot = entry.slot
                entry.slot = 0
                del self._slot_owner[slot]
                self.evictions += 1
                metrics.ADAPTER_EVICTIONS.inc()
                log.info("adapter evicted from slot", extra={"adapter": str(key), "slot": slot})
                return slot
        return None

    def _write_slot(self, slot: int, adapter: HostAdapter) -> None:
        for name, layer in self.layers.items():
            weights = adapter.modules.get(name)
            if weights is None:
                layer.clear_slot(slot)
            else:
                a, b, scale = weights
                layer.set_slot(slot, a, b, scale)

    def unload(self, key: AdapterKey) -> AdapterInfo:
        """Drop from slot and host cache; FailedPrecondition while a request uses it."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                raise NotFound(f"{key} is not loaded", field="adapter")
            if entry.refcount > 0:
                raise FailedPrecondition(f"{key} is serving {entry.refcount} running request(s)", field="adapter")
            info = self._info(entry)
            del self._entries[key]
            slot = entry.slot
            if slot:
                del self._slot_owner[slot]
        if slot:
            for layer in self.layers.values():
                layer.clear_slot(slot)
        metrics.ADAPTER_SLOTS_USED.set(len(self._slot_owner))
        return info

    # -- views (any thread) ------------------------------------------------------------------
    @staticmethod
    def _info(entry: AdapterEntry) -> AdapterInfo:
        a = entry.adapter
        return AdapterInfo(key=a.key, slot=entry.slot, rank=a.rank, target_modules=a.target_modules,
                           last_used=entry.last_used, requests_served=entry.requests_served,
                           active_requests=entry.refcount)

    def snapshot(self) -> list[AdapterInfo]:
        with self._lock:
            return [self._info(e) for e in self._entries.values()]

    def info(self, key: AdapterKey) -> AdapterInfo | None:
        with self._lock:
            e = self._entries.get(key)
            return self._info(e) if e else None

    @property
    def slots_used(self) -> int:
        with self._lock:
            return len(self._slot_owner)
