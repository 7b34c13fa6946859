"""Host cache + device slots: LRU eviction of idle slots only, hit/load/eviction counts, unload."""

from __future__ import annotations

import pytest
import torch

from inference_service.engine.adapter_cache import AdapterCache
from inference_service.model.adapter_weights import AdapterKey, HostAdapter
from inference_service.model.bank_install import install_bank
from lorafleet.errors import FailedPrecondition, NotFound


def adapter(name: str, value: float, rank: int = 2) -> HostAdapter:
    a = torch.full((rank, 4), value)
    b = torch.full((3, rank), value)
    return HostAdapter(key=AdapterKey(name, 1), rank=rank, alpha=rank, use_rslora=False,
                       modules={"0": (a, b, 1.0)}, target_modules=("0",), nbytes=a.numel() * 8)


@pytest.fixture()
def cache():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    _, layers = install_bank(model, ["0"], num_slots=2, max_rank=8, dtype=torch.float32, device="cpu")
    return AdapterCache(layers, num_slots=2, host_capacity=3)


def slot_value(cache, slot):
    return float(cache.layers["0"].A[slot, 0, 0])


def test_lru_eviction_skips_slots_held_by_running_requests(cache):
    a, b, c = adapter("a", 1.0), adapter("b", 2.0), adapter("c", 3.0)
    sa = cache.acquire(a)          # held (running request)
    sb = cache.acquire(b)
    cache.release(b.key)           # b idle now, but more recently used than a
    sc = cache.acquire(c)          # must evict b (idle), never a (held), although a is older
    assert sc == sb and sa != sc
    assert cache.info(a.key).slot == sa and cache.info(b.key).slot == 0
    assert slot_value(cache, sa) == 1.0 and slot_value(cache, sc) == 3.0
    assert cache.acquire(adapter("d", 4.0)) is None  # both slots held: the request must wait
    assert (cache.loads, cache.evictions, cache.hits) == (3, 1, 0)


def test_hits_and_least_recently_used_order(cache):
    a, b, c = adapter("a", 1.0), adapter("b", 2.0), adapter("c", 3.0)
    for x in (a, b):
        cache.acquire(x)
        cache.release(x.key)
    cache.acquire(a)  # hit; a becomes most recently used
    cache.release(a.key)
    assert cache.hits == 1
    slot_c = cache.acquire(c)
    assert cache.info(b.key).slot == 0 and cache.info(a.key).slot != 0 and slot_c
    info = cache.info(a.key)
    assert info.requests_served == 2 and info.active_requests == 0


def test_pin_and_unload(cache):
    a = adapter("a", 1.0)
    slot = cache.pin(a)
    assert slot and cache.info(a.key).active_requests == 0 and cache.info(a.key).requests_served == 0
    cache.acquire(a)
    with pytest.raises(FailedPrecondition):
        cache.unload(a.key)
    cache.release(a.key)
    info = cache.unload(a.key)
    assert info.slot == slot and cache.info(a.key) is None and slot_value(cache, slot) == 0.0
    with pytest.raises(NotFound):
        cache.unload(a.key)


def test_host_tier_keeps_at_most_capacity_idle_entries(cache):
    for i in range(5):
        cache.put_host(adapter(f"h{i}", float(i)))
    keys = [i.key.name for i in cache.snapshot()]
    assert keys == ["h2", "h3", "h4"]
    first = cache.get_host(AdapterKey("h4", 1))
    assert cache.put_host(adapter("h4", 9.0)) is first  # already cached: same object back
