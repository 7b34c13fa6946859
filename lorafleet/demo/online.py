"""The demo's online part: candidates meet live traffic, and the evaluator decides by itself.

1. The poisoned v2 goes on a 30% canary (the demo's online policy allows a candidate the offline
   gate rejected, to show the live guardrails catching it on their own) while simulated users
   send tickets, benign look-alikes and harmful requests. The live table shows both arms until
   the evaluator rolls v2 back; production never moves.
2. A good candidate goes shadow (production answers, the candidate re-runs the same requests in
   the same batches) -> canary 50% -> promoted, with production moving by compare-and-set.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import grpc
from rich.console import Console
from rich.live import Live

from lorafleet.cli.rollout import render
from lorafleet.demo.traffic import TrafficGenerator
from lorafleet.names import ROLLOUT_STATES

ONLINE_POLICY = "online-demo"
# the evaluator aborts a rollout undecided after the policy's max_duration_s (900 s in online-demo.yaml);
# the watch outlives it so that the demo shows that ABORTED record rather than a client deadline
MAX_ROLLOUT_S = 960.0


@dataclass
class RolloutOutcome:
    candidate: str
    mode: str
    state: str = ""
    reason: str = ""
    candidate_requests: int = 0
    seconds: float = 0.0
    failed_requests: int = 0
    report_html: str = ""


class OnlineDemo:
    def __init__(self, console: Console, fleet: Any, adapter: str) -> None:
        self.console, self.fleet, self.adapter = console, fleet, adapter

    def rollout(self, version: int, *, mode: str, weight: float | None = None, seed: int = 0) -> RolloutOutcome:
        """Start a rollout of ``adapter@version``, drive live traffic until it ends, show it live."""
        ref = f"{self.adapter}@{version}"
        rollouts = self.fleet.rollouts
        ro = rollouts.start(ref, mode=mode, weight_percent=weight, policy=ONLINE_POLICY)
        self.console.print(f"rollout {ro.id}: {ref} in {mode}"
                           + (f" at {weight:g}%" if weight is not None else "")
                           + f" next to production {self.adapter}@{ro.incumbent_version} (policy {ONLINE_POLICY})")
        done = threading.Event()
        # 16 users in flight fill the engine's 16 decode rows: a stage gathers its samples in about half the
        # time 8 would take (the rows decode together at nearly the cost of one)
        traffic = TrafficGenerator(self.fleet.inference, rollouts, adapter=self.adapter, seed=seed,
                                   rate_per_s=12.0, concurrency=16)
        driver = threading.Thread(target=traffic.run, kwargs={"until": done.is_set}, name="demo-traffic",
                                  daemon=True)
        t0 = time.monotonic()
        driver.start()
        last = ro
        try:
            with Live(render(ro), console=self.console, refresh_per_second=2) as live:
                try:
                    for update in rollouts.watch(ro.id, timeout=MAX_ROLLOUT_S):
                        last = update.rollout
                        live.update(render(last))
                except grpc.RpcError as exc:
                    if exc.code() is not grpc.StatusCode.DEADLINE_EXCEEDED:
                        raise
                    last = rollouts.abort(ro.id, reason=f"the demo stopped watching after {MAX_ROLLOUT_S:g} s")
                    live.update(render(last))
        finally:
            done.set()
            driver.join(timeout=180)
        outcome = RolloutOutcome(ref, mode, ROLLOUT_STATES.name(last.state).upper(), last.reason,
                                 traffic.stats.by_version.get(ref, 0), time.monotonic() - t0, traffic.stats.failed,
                                 last.report_html_path)
        if not self.console.is_terminal:
            self.console.line()  # Live's last frame ends without a newline when the output is a file or a pipe
        style = "green" if outcome.state == "PROMOTED" else "red" if outcome.state == "ROLLED_BACK" else "yellow"
        served = ", ".join(f"{v}: {n}" for v, n in sorted(traffic.stats.by_version.items()))
        self.console.print(f"[bold {style}]{ref}: {outcome.state}[/] after {outcome.seconds:.0f}s")
        self.console.print(f"  requests to {ref}: {outcome.candidate_requests}")
        self.console.print(f"  live requests: {traffic.stats.sent} ({served}); failed: {traffic.stats.failed}; "
                           f"rated: {traffic.stats.feedback}")
        self.console.print(f"  {outcome.reason}", soft_wrap=True)
        self.console.print(f"  report: {outcome.report_html or '(none)'}", soft_wrap=True)
        return outcome
