"""The canary guardrail's pairing rule written the slow, obvious way, for the tests to compare with."""

from __future__ import annotations

from collections import deque


def reference_pairs(arms: list[bool], values: list[float], capacity: int,
                    units: tuple[int, int] = (1, 1)) -> tuple[list[float], list[list[float]]]:
    """Pair differences in the order they form, and what waits, one arrival at a time: an arrival joins
    its arm's queue (a full queue first drops its oldest value); whenever the candidate queue holds
    ``units[0]`` values and the incumbent one ``units[1]``, those oldest values leave as a pair whose
    difference is the candidate block's mean minus the incumbent block's."""
    diffs, queues = reference_strata_pairs(arms, values, [""] * len(arms), capacity, units)
    return diffs, queues.get("", [[], []])


def reference_strata_pairs(arms: list[bool], values: list[float], strata: list[str], capacity: int,
                           units: tuple[int, int] = (1, 1)) -> tuple[list[float], dict[str, list[list[float]]]]:
    """The same rule with one pair of queues per stratum, one arrival at a time."""
    queues: dict[str, tuple[deque[float], deque[float]]] = {}
    capacity = max(capacity, *units)
    out = []
    for is_cand, x, stratum in zip(arms, values, strata):
        pair = queues.setdefault(stratum, (deque(), deque()))
        own = pair[0] if is_cand else pair[1]
        if len(own) >= capacity:
            own.popleft()
        own.append(x)
        if len(pair[0]) >= units[0] and len(pair[1]) >= units[1]:
            blocks = [[q.popleft() for _ in range(u)] for q, u in zip(pair, units)]
            out.append(sum(blocks[0]) / units[0] - sum(blocks[1]) / units[1])
    return out, {k: [list(c), list(i)] for k, (c, i) in queues.items()}
