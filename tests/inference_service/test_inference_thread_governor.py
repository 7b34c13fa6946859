"""The engine's thread governor (inference_service/engine/threads.py): one thread under other processes'
contention, all of them under the pressure the server's own threads make."""

from __future__ import annotations

from inference_service.engine.threads import BACKOFF_S, HIGH, LOW, WINDOW_S, ThreadGovernor


class FakeHost:
    """A clock and a cumulative PSI counter that grows at ``rate`` (share of time some task waited)."""

    def __init__(self) -> None:
        self.now, self.total_us, self.rate = 0.0, 0, 0.0

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.total_us += int(self.rate * seconds * 1e6)


def _governor(host: FakeHost) -> tuple[ThreadGovernor, list[int]]:
    calls: list[int] = []
    gov = ThreadGovernor(2, calls.append, read_pressure=lambda: host.total_us, clock=lambda: host.now)
    gov.start()
    return gov, calls


def _run(gov: ThreadGovernor, host: FakeHost, seconds: float) -> int:
    for _ in range(int(seconds / (WINDOW_S / 5))):
        host.advance(WINDOW_S / 5)
        gov.tick()
    return gov.current


def test_the_servers_own_pressure_keeps_all_threads():
    """0.26: what the gRPC and event-loop threads beside the compute threads read while serving 16 streams."""
    host = FakeHost()
    gov, calls = _governor(host)
    host.rate = 0.26
    assert LOW < host.rate < HIGH
    assert _run(gov, host, 10) == 2 and calls == [2]


def test_other_processes_contention_drops_to_one_thread_and_it_comes_back_after_the_backoff():
    host = FakeHost()
    gov, calls = _governor(host)
    host.rate = 0.95  # busy processes wanting the cores: some task nearly always waits
    assert _run(gov, host, 1) == 1 and calls == [2, 1]
    host.rate, wait = 0.0, gov.backoff
    assert wait >= BACKOFF_S  # doubled: the first switch came within STABLE_S of the start
    assert _run(gov, host, wait / 2) == 1  # not before the back-off
    assert _run(gov, host, wait) == 2 and calls == [2, 1, 2]


def test_without_psi_the_thread_count_stays():
    calls: list[int] = []
    gov = ThreadGovernor(2, calls.append, read_pressure=lambda: None)
    gov.start()
    assert not gov.enabled and gov.tick() == 2 and calls == [2]
