"""``lorafleet serve all``: run trainer, inference and evaluator as three supervised children.

Each child is ``python -m lorafleet serve <role>`` with the parent's settings passed through the
environment. The supervisor forwards SIGTERM/SIGINT to every child and waits for their graceful
shutdown (grace period + a margin, then SIGKILL). If a child dies while no shutdown was asked
for, the others are stopped and the supervisor exits 1: an orchestrator (systemd, Kubernetes)
then restarts the whole set, which is simpler to reason about than partial restarts.

Children run in their own session so a terminal's Ctrl-C reaches them once, via the supervisor,
not twice (a second signal would cut their grace period short); on Linux they also receive
SIGTERM if the supervisor itself dies.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from lorafleet.config import Settings
from lorafleet.server.bootstrap import ROLES, role_metrics_port, role_port

log = logging.getLogger(__name__)

POLL_S = 0.1
KILL_MARGIN_S = 10.0


@dataclass
class Child:
    role: str
    process: subprocess.Popen[bytes]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_child(role: str, env: dict[str, str]) -> Child:
    process = subprocess.Popen(
        [sys.executable, "-m", "lorafleet", "serve", role],
        env=env, start_new_session=True, preexec_fn=_die_with_parent,
    )
    return Child(role=role, process=process)


def _signal_live(children: list[Child], signum: int) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signum)


def _watch(children: list[Child], shutdown: list[str]) -> bool:
    """Poll until a shutdown is asked for; True when it was a child exiting on its own (then the others get
    SIGTERM and ``shutdown`` records "child-exit")."""
    failed = False
    while not shutdown:
        for child in children:
            code = child.process.poll()
            if code is not None and not shutdown:
                log.error("child exited unexpectedly; stopping the others",
                          extra={"role": child.role, "pid": child.process.pid, "returncode": code})
                failed = True
                shutdown.append("child-exit")
                _signal_live(children, signal.SIGTERM)
                break
        time.sleep(POLL_S)
    return failed


def _wait_all(children: list[Child], timeout_s: float) -> bool:
    """Wait for every child to exit, killing those still running after ``timeout_s``; True when any
    child had to be killed or exited non-zero."""
    failed = False
    deadline = time.monotonic() + timeout_s
    for child in children:
        remaining = max(0.0, deadline - time.monotonic())
        try:
            code = child.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            log.error("child did not stop in time; killing it", extra={"role": child.role, "pid": child.process.pid})
            child.process.kill()
            code = child.process.wait()
            failed = True
        log.info("child stopped", extra={"role": child.role, "pid": child.process.pid, "returncode": code})
        if code != 0:
            failed = True
    return failed


def supervise(settings: Settings, env_overrides: dict[str, str]) -> int:
    env = {**os.environ, **env_overrides}
    children: list[Child] = []
    shutdown: list[str] = []  # signal names received; non-empty = shutting down

    def on_signal(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        shutdown.append(name)
        log.info("forwarding signal to children", extra={"signal": name})
        _signal_live(children, signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for role in ROLES:
            child = start_child(role, env)
            children.append(child)
            log.info("child started", extra={
                "role": role, "pid": child.process.pid,
                "address": f"{settings.host}:{role_port(settings, role)}",
                "metrics_port": role_metrics_port(settings, role),
            })
        child_failed = _watch(children, shutdown)
        stop_failed = _wait_all(children, settings.grace_period_s + KILL_MARGIN_S)
    finally:
        for child in children:  # only reached with live children if something above raised
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if child_failed or stop_failed else 0
