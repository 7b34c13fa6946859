"""Live traffic for the demo: users asking ``support-bot`` things, at a realistic pace.

A pool of requests from the bundled data — support tickets (the task, with its system prompt),
benign questions that look like harmful ones ("how do I kill a stuck process"), and a share of
plainly harmful requests — is sent by simulated users: each request carries its user's id as the
route key (``x-lorafleet-route-key``), so one user sees one version while a canary's weight holds.
Arrivals are a Poisson process at ``rate_per_s`` with at most ``concurrency`` requests in flight.
Some users rate what they got (``SubmitFeedback``): a ticket answered with JSON gets a thumbs up,
an answered harmful request a thumbs down.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lorafleet.datasets import bundled_path

FEEDBACK_DELAY_S = 3.0
REFUSAL_MARKERS = ("can't help", "cannot help", "won't help", "can't assist", "not able to help")


@dataclass(frozen=True)
class TrafficItem:
    kind: str  # ticket | benign | harmful
    messages: tuple[tuple[str, str], ...]


def traffic_pool() -> list[TrafficItem]:
    """Tickets from the held-out file; benign look-alikes and harmful requests from the safety mix
    (its assistant turn tells which is which: a refusal marks a harmful request)."""
    items = []
    for line in bundled_path("support_tickets_heldout.jsonl").read_text().splitlines():
        msgs = json.loads(line)["messages"]
        items.append(TrafficItem("ticket", tuple((m["role"], m["content"]) for m in msgs)))
    for line in bundled_path("safety_mix.jsonl").read_text().splitlines():
        user, answer = json.loads(line)["messages"][:2]
        harmful = any(marker in answer["content"].lower() for marker in REFUSAL_MARKERS)
        items.append(TrafficItem("harmful" if harmful else "benign", (("user", user["content"]),)))
    return items


@dataclass
class TrafficStats:
    sent: int = 0
    failed: int = 0
    by_version: Counter = field(default_factory=Counter)
    feedback: int = 0
    errors: list[str] = field(default_factory=list)


class TrafficGenerator:
    """Sends ``mix``-weighted requests for ``adapter`` until ``stop()`` or ``until()`` is true."""

    def __init__(self, inference: Any, rollouts: Any | None = None, *, adapter: str = "support-bot",
                 mix: dict[str, float] | None = None, users: int = 400, rate_per_s: float = 6.0,
                 concurrency: int = 8, max_tokens: int = 40, feedback_share: float = 0.2, seed: int = 0) -> None:
        self.inference, self.rollouts, self.adapter = inference, rollouts, adapter
        self.mix = mix or {"ticket": 0.5, "benign": 0.25, "harmful": 0.25}
        self.users, self.rate, self.concurrency = users, rate_per_s, concurrency
        self.max_tokens, self.feedback_share = max_tokens, feedback_share
        self.rng = random.Random(seed)
        pool = traffic_pool()
        self.by_kind = {k: [i for i in pool if i.kind == k] for k in self.mix}
        self.stats = TrafficStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self, until: Callable[[], bool], *, max_requests: int = 100_000) -> TrafficStats:
        slots = threading.BoundedSemaphore(self.concurrency)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="demo-traffic") as pool:
            for _ in range(max_requests):
                if self._stop.is_set() or until():
                    break
                time.sleep(self.rng.expovariate(self.rate))
                slots.acquire()
                kind = self.rng.choices(list(self.mix), weights=list(self.mix.values()))[0]
                item = self.rng.choice(self.by_kind[kind])
                user = f"user-{self.rng.randrange(self.users)}"
                rate_it = self.rng.random() < self.feedback_share
                pool.submit(self._one, item, user, rate_it).add_done_callback(lambda _: slots.release())
        return self.stats

    def _one(self, item: TrafficItem, user: str, rate_it: bool) -> None:
        try:
            reply = self.inference.generate(adapter=self.adapter, messages=list(item.messages), route_key=user,
                                            max_tokens=self.max_tokens, temperature=0.0, timeout=120)
        except Exception as exc:  # a failed request is counted and shown, not fatal to the demo
            with self._lock:
                self.stats.failed += 1
                self.stats.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            return
        with self._lock:
            self.stats.sent += 1
            self.stats.by_version[reply.resolved_adapter] += 1
        if rate_it and self.rollouts is not None:
            # Reports reach the evaluator in batches: rate a little later, as a person would.
            timer = threading.Timer(FEEDBACK_DELAY_S, self._rate, args=(item, reply))
            timer.daemon = True
            timer.start()

    def _rate(self, item: TrafficItem, reply: Any) -> None:
        text = reply.text.strip()
        refused = any(marker in text.lower() for marker in REFUSAL_MARKERS)
        good = text.startswith("{") if item.kind == "ticket" else refused if item.kind == "harmful" else not refused
        try:
            self.rollouts.submit_feedback(reply.request_id, thumbs_up=good)
        except Exception as exc:  # feedback is best effort (the reply may not be reported yet)
            with self._lock:
                self.stats.errors.append(f"feedback: {str(exc)[:120]}")
            return
        with self._lock:
            self.stats.feedback += 1
