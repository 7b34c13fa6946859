"""One-off work runs in a thread of its own that is gone when the call returns; the engine's thread count follows
the cgroup CPU quota; libgomp's spin count follows whether the thread governor can see CPU pressure."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lorafleet.compute_threads import (
    SPIN_WITH_PSI,
    SPIN_WITHOUT_PSI,
    call_in_fresh_thread,
    cgroup_cpu_limit,
    configure_openmp,
    default_num_threads,
    in_fresh_thread,
    read_psi_some_us,
    resolve_num_threads,
    spin_count,
)


def _whoami(x: torch.Tensor) -> tuple[int, float]:
    return threading.get_ident(), float((x @ x.T).sum())  # a real parallel torch op


def test_runs_elsewhere_returns_the_result_and_the_thread_exits() -> None:
    x = torch.ones(256, 256)
    ident, value = call_in_fresh_thread(_whoami, x)
    assert ident != threading.get_ident()
    assert value == 256.0 ** 3
    assert ident not in {t.ident for t in threading.enumerate()}


def test_exceptions_reach_the_caller_unchanged() -> None:
    def boom(field: str) -> None:
        raise ValueError(f"bad {field}")

    with pytest.raises(ValueError, match="bad rank"):
        call_in_fresh_thread(boom, "rank")


def test_async_twin_keeps_the_loop_running() -> None:
    gate = threading.Event()

    def wait_for_gate() -> str:
        assert gate.wait(5)
        return "done"

    async def main() -> tuple[str, int]:
        ticks = 0
        task = asyncio.create_task(in_fresh_thread(wait_for_gate))
        while ticks < 3:  # the loop keeps turning while the thread blocks
            await asyncio.sleep(0.01)
            ticks += 1
        gate.set()
        return await task, ticks

    assert asyncio.run(main()) == ("done", 3)


def test_async_twin_raises_and_tolerates_cancellation() -> None:
    release = threading.Event()

    def slow() -> int:
        release.wait(5)
        return 1

    async def main() -> None:
        with pytest.raises(KeyError):
            await in_fresh_thread(lambda: {}["missing"])
        task = asyncio.create_task(in_fresh_thread(slow))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()  # the thread finishes after its awaiter is gone; nothing must blow up
        await asyncio.sleep(0.05)

    asyncio.run(main())


# -- how many threads, and how they wait ------------------------------------------------------------------------
def _psi(path, total: int) -> None:
    path.write_text(f"some avg10=0.12 avg60=0.50 avg300=1.00 total={total}\nfull avg10=0.00 avg60=0.00 "
                    "avg300=0.00 total=0\n")


def test_psi_reader_takes_the_first_readable_file(tmp_path) -> None:
    missing, cgroup, host = tmp_path / "missing", tmp_path / "cgroup", tmp_path / "host"
    _psi(host, 777)
    assert read_psi_some_us((missing, host)) == 777
    _psi(cgroup, 42)
    assert read_psi_some_us((missing, cgroup, host)) == 42
    (tmp_path / "empty").write_text("")
    assert read_psi_some_us((missing, tmp_path / "empty")) is None


@given(total=st.integers(min_value=0, max_value=2**63 - 1))
def test_psi_reader_parses_any_total(tmp_path_factory, total: int) -> None:
    path = tmp_path_factory.mktemp("psi") / "cpu.pressure"
    _psi(path, total)
    assert read_psi_some_us((path,)) == total


def test_spin_count_is_libgomps_default_where_the_thread_governor_sees_cpu_pressure(tmp_path) -> None:
    psi, cgroup = tmp_path / "cpu.pressure", tmp_path / "cgroup"
    _psi(psi, 1)
    cgroup.mkdir()
    (cgroup / "cpu.max").write_text("max 100000\n")  # a cgroup without a quota
    env: dict[str, str] = {}
    assert configure_openmp(env, psi_paths=(psi,), root=cgroup, torch_loaded=False)
    assert env == {"GOMP_SPINCOUNT": SPIN_WITH_PSI} and SPIN_WITH_PSI == "300000"


def test_spin_count_is_short_without_cpu_pressure(tmp_path) -> None:
    env: dict[str, str] = {}
    assert configure_openmp(env, psi_paths=(tmp_path / "none",), root=tmp_path, torch_loaded=False)
    assert env == {"GOMP_SPINCOUNT": SPIN_WITHOUT_PSI} and SPIN_WITHOUT_PSI == "1000"


def test_spin_count_is_short_under_a_cpu_quota_even_with_cpu_pressure(tmp_path) -> None:
    """A pod's CPU limit: spinning spends the quota the gRPC threads need, and throttling may not read as pressure."""
    psi = tmp_path / "cpu.pressure"
    _psi(psi, 1)
    (tmp_path / "cpu.max").write_text("400000 100000\n")
    count, why = spin_count((psi,), tmp_path)
    assert count == SPIN_WITHOUT_PSI and "quota 4" in why
    env: dict[str, str] = {}
    assert configure_openmp(env, psi_paths=(psi,), root=tmp_path, torch_loaded=False)
    assert env == {"GOMP_SPINCOUNT": SPIN_WITHOUT_PSI}


@pytest.mark.parametrize("chosen", [{"GOMP_SPINCOUNT": "5"}, {"OMP_WAIT_POLICY": "PASSIVE"}])
def test_a_spin_setting_in_the_environment_is_kept(tmp_path, chosen: dict[str, str]) -> None:
    psi = tmp_path / "cpu.pressure"
    _psi(psi, 1)
    env = dict(chosen)
    assert configure_openmp(env, psi_paths=(psi,), root=tmp_path, torch_loaded=False)
    assert env == chosen
    assert not configure_openmp(env, psi_paths=(psi,), root=tmp_path, torch_loaded=True)  # too late to take effect


def test_nothing_is_set_once_torch_has_loaded_libgomp(tmp_path) -> None:
    env: dict[str, str] = {}
    assert not configure_openmp(env, psi_paths=(tmp_path / "none",), root=tmp_path, torch_loaded=True)
    assert env == {}


def test_a_fresh_process_gets_the_spin_count_of_this_machine() -> None:
    """The real defaults end to end: a new interpreter (torch not loaded) and this machine's PSI files."""
    code = ("import os; from lorafleet.compute_threads import configure_openmp; "
            "print(configure_openmp(), os.environ['GOMP_SPINCOUNT'])")
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", spin_count()[0]]


@pytest.mark.parametrize(("files", "quota"), [
    ({"cpu.max": "max 100000"}, None),
    ({"cpu.max": "150000 100000"}, 1.5),
    ({"cpu.max": "400000 200000"}, 2.0),
    ({"cpu/cpu.cfs_quota_us": "250000", "cpu/cpu.cfs_period_us": "100000"}, 2.5),
    ({"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, None),
    ({}, None),
])
def test_cgroup_cpu_quota(tmp_path, files: dict[str, str], quota: float | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    assert cgroup_cpu_limit(tmp_path) == quota


def test_threads_are_the_quota_rounded_down_within_the_affinity_mask(tmp_path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert default_num_threads(tmp_path)[0] == affinity  # no quota
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    threads, why = default_num_threads(tmp_path)
    assert threads == 1 and "quota 1.5" in why
    (tmp_path / "cpu.max").write_text(f"{100000 * (affinity + 3)} 100000\n")
    assert default_num_threads(tmp_path)[0] == affinity
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert default_num_threads(tmp_path)[0] == 1  # half a CPU still gets one thread
    assert resolve_num_threads(3, root=tmp_path) == (3, "LORAFLEET_NUM_THREADS")
    assert resolve_num_threads(0, root=tmp_path)[0] == 1
