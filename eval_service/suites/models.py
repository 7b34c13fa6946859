"""What the evaluator runs: suites of cases, as immutable pydantic models.

Why apart from ``loader.py``: every step of an evaluation (generation, scoring, reports, the protobuf
edge) uses these types, while only the loader knows the files' shapes (``SuiteHeader``, ``CaseEntry``)
and how defaults apply. A ``Case`` checks what running it needs on its own, wherever it comes from: an id
that fits ``CASE_ID_RE``, a conversation that ends with a user turn, a known scorer whose expected value
and params it accepts.
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import Enum
from typing import Annotated, Any

from pydantic import BeforeValidator, field_validator, model_validator

from eval_service.scoring.scorers import get_scorer
from eval_service.validation import StrictModel

SUITE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
ROLES = ("system", "user", "assistant")


class SuiteKind(str, Enum):
    TASK = "task"
    SAFETY = "safety"
    OVER_REFUSAL = "over_refusal"
    GENERAL = "general"


# -- field types ----------------------------------------------------------------------------------
def _matching(pattern: re.Pattern[str]) -> BeforeValidator:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise ValueError(f"must match {pattern.pattern}")
        return value

    return BeforeValidator(check)


def _suite_name(value: Any) -> str:
    if not isinstance(value, str) or not SUITE_NAME_RE.match(value):
        raise ValueError(f"{value!r} must match {SUITE_NAME_RE.pattern}")
    return value


def _suite_kind(value: Any) -> SuiteKind:
    try:
        return SuiteKind(value)
    except ValueError:
        raise ValueError(f"{value!r} must be one of {[k.value for k in SuiteKind]}") from None


def _non_empty_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value


CaseId = Annotated[str, _matching(CASE_ID_RE)]
SuiteName = Annotated[str, BeforeValidator(_suite_name)]
Kind = Annotated[SuiteKind, BeforeValidator(_suite_kind)]
NonEmptyText = Annotated[str, BeforeValidator(_non_empty_text)]


# -- what the evaluator runs --------------------------------------------------------------------
class Message(StrictModel):
    role: str
    content: NonEmptyText

    @field_validator("role", mode="before")
    @classmethod
    def _known_role(cls, value: Any) -> str:
        if value not in ROLES:
            raise ValueError(f"{value!r} must be one of {ROLES}")
        return value


class Case(StrictModel):
    """One resolved case: the suite's defaults applied, a prompt turned into a user message."""

    id: CaseId
    scorer: str
    messages: tuple[Message, ...]
    expected: Any = None
    params: dict[str, Any] = {}
    tags: tuple[str, ...] = ()
    prompt: str | None = None
    source: str = ""

    @field_validator("scorer", mode="before")
    @classmethod
    def _scorer_set(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be set (on the case or in the suite defaults)")
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_list(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) and t for t in value):
            raise ValueError("must be a list of non-empty strings")
        return value

    @model_validator(mode="after")
    def _runnable(self) -> Case:
        if not self.messages:
            raise ValueError("messages must be a non-empty list")
        if self.messages[-1].role != "user":
            raise ValueError("the last message must be a user turn (the model answers it)")
        get_scorer(self.scorer).validate(self.expected, self.params)
        return self

    @property
    def user_text(self) -> str:
        """The last user turn: what the case asks (used for reports and contamination checks)."""
        return next(m.content for m in reversed(self.messages) if m.role == "user")

    @property
    def content_key(self) -> str:
        """sha256 of what is sent to the model; two cases with the same key get the same output."""
        payload = {"prompt": self.prompt} if self.prompt is not None else {
            "messages": [[m.role, m.content] for m in self.messages]}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def expected_text(self) -> str:
        if self.expected is None:
            return ""
        return self.expected if isinstance(self.expected, str) else json.dumps(self.expected, ensure_ascii=False)


class Suite(StrictModel):
    name: SuiteName
    kind: Kind
    description: str = ""
    cases: tuple[Case, ...]
    path: str = ""
    max_tokens: int | None = None

    @property
    def scorers(self) -> list[str]:
        return sorted({c.scorer for c in self.cases})

    def limited(self, max_cases: int) -> Suite:
        """A deterministic subset of ``max_cases`` cases (all when 0), stratified by tag.

        Suites are written category by category, so the first N cases would cover only the first
        few categories (for the over-refusal suite, the hardest ones). Instead the cases are
        grouped by their last (most specific) tag and taken round-robin across groups, in file
        order within a group; the subset keeps file order. A quick run then estimates the same
        mixture the full suite measures.
        """
        if max_cases <= 0 or max_cases >= len(self.cases):
            return self
        groups: dict[str, list[int]] = {}
        for i, case in enumerate(self.cases):
            groups.setdefault(case.tags[-1] if case.tags else "", []).append(i)
        picked: list[int] = []
        queues = [list(g) for g in groups.values()]
        while len(picked) < max_cases:
            for q in queues:
                if q and len(picked) < max_cases:
                    picked.append(q.pop(0))
        return self.model_copy(update={"cases": tuple(self.cases[i] for i in sorted(picked))})
