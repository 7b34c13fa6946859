"""One validation style for the evaluator's hand-written files (suites, policies): strict pydantic models.

Suite and policy files are written by people, so a mistake has to come back as one sentence that names the
field and says what is wrong ("suite kind 'trivia' must be one of [...]", "messages[1].role 'bot' must be
one of (...)"), not as pydantic's nested error dump. Both loaders build their models on ``StrictModel``
(unknown keys are errors that list the allowed ones; instances are immutable) and word a ``ValidationError``
with ``describe``; each loader puts the file (and line, and case) in front.

Validators word their ``ValueError`` as the rest of a sentence whose subject is the field
("must match ^[a-z]...$"); ``describe`` puts the field's path in front ("id must match ^[a-z]...$").
Errors about a whole object (a model validator) are already a sentence and are used as they are.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

UNKNOWN_KEYS = "unknown_keys"
_MAPPING_ERRORS = ("model_type", "model_attributes_type", "dict_type")


class StrictModel(BaseModel):
    """Immutable; keys that are not fields are rejected with the list of allowed keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(str(k) for k in data if k not in cls.model_fields)
            if unknown:
                raise PydanticCustomError(UNKNOWN_KEYS, "unknown keys {unknown} (allowed: {allowed})",
                                          {"unknown": unknown, "allowed": sorted(cls.model_fields)})
        return data


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("messages", 1, "role")`` -> ``messages[1].role``; a mapping's bad key: ``non_regression.x (key)``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else part
    return out


def describe_error(error: ErrorDetails) -> str:
    """One pydantic error as a sentence about the field it is on."""
    where = field_path(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == UNKNOWN_KEYS:
        if where:
            return f"{where} must be a mapping with keys from {ctx['allowed']} (unknown: {ctx['unknown']})"
        return f"has unknown keys {ctx['unknown']} (allowed: {ctx['allowed']})"
    if kind == "value_error":
        text = str(ctx.get("error", error["msg"]))
        return f"{where} {text}" if where else text
    if kind == "missing":
        return f"{where} must be set"
    if kind in _MAPPING_ERRORS:
        return f"{where} must be a mapping" if where else "must be a mapping"
    return f"{where}: {error['msg']}" if where else error["msg"]


def describe(exc: ValidationError, prefix: str = "") -> str:
    """The first error of ``exc`` as a sentence after ``prefix``, and how many more there are."""
    errors = exc.errors()
    more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
    return f"{prefix}{describe_error(errors[0])}{more}"
