"""Guardrail specs, statuses, input checks and state fields shared by ``sequential`` and ``rollout``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import numpy as np


class Decision(str, Enum):
    CONTINUE = "CONTINUE"
    WORSE = "WORSE"
    NOT_WORSE = "NOT_WORSE"


class Arm(str, Enum):
    CANDIDATE = "candidate"
    INCUMBENT = "incumbent"


Values = float | Sequence[float] | np.ndarray
Arms = Arm | str | Sequence[Arm | str] | np.ndarray


@dataclass(frozen=True)
class GuardrailSpec:
    """One guardrail's policy: α (both decisions together), margin δ on the harm scale, direction,
    minimum pairs (one observation of each arm) before NOT_WORSE, and whether values must be 0/1."""

    name: str
    alpha: float = 0.05
    delta: float = 0.02
    higher_is_worse: bool = True
    min_samples: int = 100
    bernoulli: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("guardrail name must be a non-empty string")
        if not is_real(self.alpha) or not 0 < self.alpha < 1:
            raise ValueError(f"{self.name}: alpha must be in (0, 1), got {self.alpha!r}")
        if not is_real(self.delta) or not 0 <= self.delta < 1:
            raise ValueError(f"{self.name}: delta (minimum effect) must be in [0, 1), got {self.delta!r}")
        if not isinstance(self.min_samples, int) or isinstance(self.min_samples, bool) or self.min_samples < 0:
            raise ValueError(f"{self.name}: min_samples must be an integer >= 0, got {self.min_samples!r}")
        if not isinstance(self.higher_is_worse, bool) or not isinstance(self.bernoulli, bool):
            raise ValueError(f"{self.name}: higher_is_worse and bernoulli must be booleans")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GuardrailSpec:
        fields = set(cls.__dataclass_fields__)
        if not isinstance(data, Mapping) or set(data) != fields:
            raise ValueError(f"guardrail spec must be a mapping with exactly the fields {sorted(fields)}")
        return cls(**data)


@dataclass(frozen=True)
class GuardrailStatus:
    """Where one guardrail stands. Means are in the metric's units; the difference and its confidence
    sequence are on the harm scale (candidate - incumbent, > 0 = candidate worse)."""

    name: str
    design: str
    decision: Decision
    n_candidate: int
    n_incumbent: int
    candidate_mean: float | None
    incumbent_mean: float | None
    harm_difference: float | None
    ci_low: float
    ci_high: float
    log_e_worse: float
    log_e_not_worse: float
    p_worse: float
    p_not_worse: float
    alpha: float
    delta: float
    decided_at: tuple[int, int] | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["decision"] = self.decision.value
        out["decided_at"] = None if self.decided_at is None else list(self.decided_at)
        return out


def is_real(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def harm_values(values: Values, spec: GuardrailSpec, what: str) -> np.ndarray:
    try:
        x = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{spec.name}: {what} values must be numbers in [0, 1]") from exc
    if x.ndim != 1:
        raise ValueError(f"{spec.name}: {what} values must be a scalar or a 1-D sequence, got shape {x.shape}")
    bad = x[~np.isfinite(x) | (x < 0) | (x > 1)]
    if bad.size:
        raise ValueError(f"{spec.name}: {what} values must lie in [0, 1] (bounded test), got {float(bad[0])!r}")
    if spec.bernoulli and not np.isin(x, (0.0, 1.0)).all():
        raise ValueError(f"{spec.name}: {what} values must be 0 or 1 (Bernoulli guardrail)")
    return x if spec.higher_is_worse else 1.0 - x


def parse_arm(arm: object) -> Arm:
    if isinstance(arm, Arm):
        return arm
    if isinstance(arm, str) and arm.lower() in (a.value for a in Arm):
        return Arm(arm.lower())
    raise ValueError(f"arm must be 'candidate' or 'incumbent', got {arm!r}")


def candidate_mask(arm: Arms, k: int) -> np.ndarray:
    """True where an observation is the candidate's: one arm for the batch, one per value, or a bool array."""
    if isinstance(arm, str):
        return np.full(k, parse_arm(arm) is Arm.CANDIDATE)
    if isinstance(arm, np.ndarray) and arm.dtype == bool:
        mask = arm
    elif isinstance(arm, (Sequence, np.ndarray)):
        mask = np.array([parse_arm(a) is Arm.CANDIDATE for a in arm], dtype=bool)
    else:
        raise ValueError(f"arm must be an arm, a sequence of arms or a bool array, got {arm!r}")
    if mask.shape != (k,):
        raise ValueError(f"got {mask.size} arms for {k} values")
    return mask


def state_field(state: Mapping[str, Any], key: str) -> Any:
    if not isinstance(state, Mapping) or key not in state:
        raise ValueError(f"guardrail state lacks {key!r}")
    return state[key]


def state_ints(state: Mapping[str, Any], key: str, size: int) -> list[int]:
    value = state_field(state, key)
    if not isinstance(value, list) or len(value) != size or \
            not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"guardrail state: {key!r} must be a list of {size} integers")
    return list(value)


def state_floats(state: Mapping[str, Any], key: str, size: int) -> list[float]:
    """``size`` finite numbers from a list, or one number when size == 0."""
    value = state_field(state, key)
    items = [value] if size == 0 else value
    if not isinstance(items, list) or len(items) != max(size, 1) or not all(is_real(v) for v in items):
        what = "a finite number" if size == 0 else f"a list of {size} finite numbers"
        raise ValueError(f"guardrail state: {key!r} must be {what}")
    return [float(v) for v in items]
