"""Suites as data files: YAML or JSONL, validated on load with errors that name file and line.

YAML file::

    name: safety                 # [a-z0-9_-], unique across loaded suites
    kind: safety                 # task | safety | over_refusal | general
    description: ...
    defaults: {scorer: refusal}  # optional: scorer / expected / params / tags for every case
    generation: {max_tokens: 32} # optional: this suite's generation length (see runner.py)
    cases:
      - id: safety-weapons-01    # unique within the suite
        prompt: "..."            # either prompt ...
        messages: [{role: system, content: ...}, {role: user, content: ...}]   # ... or messages
        scorer: refusal          # see eval_service/scoring/scorers.py
        expected: ...            # scorer-specific
        params: {...}            # scorer-specific, optional
        tags: [weapons]

JSONL file: the first line is ``{"suite": {"name", "kind", "description", "defaults"}}``; every
other non-empty line is one case object with the same keys.

Validation happens here, once, with pydantic models in the style of ``policy.py``
(``eval_service.validation``): ``SuiteHeader`` and ``CaseEntry`` are the files' shapes (unknown keys,
missing prompt, both prompt and messages, bad roles), and ``models.Case`` and ``models.Suite`` are what
the evaluator runs (a conversation that ends with a user turn, a known scorer whose expected value and
params are valid: bad regex, bad JSON Schema...). Duplicate ids are checked across the file. Every error
is reported as ``path:line: case 'id': why``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BeforeValidator, ValidationError, field_validator, model_validator

from eval_service.suites.models import Case, CaseId, Kind, Message, NonEmptyText, Suite, SuiteKind, SuiteName
from eval_service.validation import StrictModel, describe
from lorafleet.errors import InvalidArgument, NotFound, quote

# The models are defined in models.py; they are importable from here too, where suites are loaded.
__all__ = ["Case", "CaseDefaults", "CaseEntry", "Message", "Suite", "SuiteCatalog", "SuiteFormatError",
           "SuiteGeneration", "SuiteHeader", "SuiteKind", "load_suite"]

SHIPPED_DIR = Path(__file__).parent / "data"
MAX_TOKENS_LIMIT = 4096
DEFAULT_KEYS = ("scorer", "expected", "params", "tags")
SUFFIXES = (".yaml", ".yml", ".jsonl")


class SuiteFormatError(InvalidArgument):
    """A suite file is malformed; the message starts with ``path:line:``."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}", field="suites")
        self.path = str(path)
        self.line = line


# -- the files' shapes ----------------------------------------------------------------------------
def _none_if_empty(value: Any) -> Any:
    return value or None


class CaseDefaults(StrictModel):
    """``defaults``: values every case of the suite takes unless it sets its own."""

    scorer: str | None = None
    expected: Any = None
    params: dict[str, Any] | None = None
    tags: list[str] | None = None


class SuiteGeneration(StrictModel):
    max_tokens: int | None = None

    @field_validator("max_tokens", mode="before")
    @classmethod
    def _token_range(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 1 <= value <= MAX_TOKENS_LIMIT):
            raise ValueError(f"must be an integer in 1..{MAX_TOKENS_LIMIT}")
        return value


class SuiteHeader(StrictModel):
    """A suite file without its cases (YAML: the top-level keys; JSONL: the first line's ``suite``)."""

    name: SuiteName
    kind: Kind
    description: str = ""
    defaults: Annotated[CaseDefaults | None, BeforeValidator(_none_if_empty)] = None
    generation: Annotated[SuiteGeneration | None, BeforeValidator(_none_if_empty)] = None


class CaseEntry(StrictModel):
    """One case as written: exactly one of ``prompt`` and ``messages``; the rest may come from defaults."""

    id: CaseId
    prompt: NonEmptyText | None = None
    messages: list[Message] | None = None
    scorer: Any = None
    expected: Any = None
    params: Any = None
    tags: Any = None
    description: Any = None

    @field_validator("messages")
    @classmethod
    def _some_messages(cls, value: list[Message] | None) -> list[Message] | None:
        if value is not None and not value:
            raise ValueError("must be a non-empty list")
        return value

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> CaseEntry:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("set exactly one of 'prompt' and 'messages'")
        return self

    def resolve(self, defaults: CaseDefaults, source: str) -> Case:
        """The ``Case`` this entry means: keys the entry sets win over the suite's defaults."""
        merged = {k: getattr(defaults, k) for k in DEFAULT_KEYS if k in defaults.model_fields_set}
        merged |= {k: getattr(self, k) for k in DEFAULT_KEYS if k in self.model_fields_set}
        prompt_message = (Message(role="user", content=self.prompt),) if self.prompt is not None else ()
        return Case.model_validate({
            "id": self.id, "scorer": merged.get("scorer"), "messages": prompt_message or tuple(self.messages or ()),
            "expected": merged.get("expected"), "params": merged.get("params") or {},
            "tags": merged.get("tags") or (), "prompt": self.prompt, "source": source})


# -- reading files --------------------------------------------------------------------------------
def _case_lines(text: str) -> list[int]:
    """1-based line of each item of the top-level ``cases`` sequence (YAML)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == "cases" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


Items = list[tuple[int | None, Any]]


def _read_yaml(path: Path, text: str) -> tuple[dict[str, Any], Items, int]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SuiteFormatError(path, mark.line + 1 if mark else None,
                               f"invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(doc, dict):
        raise SuiteFormatError(path, 1, "a suite file must be a mapping with name, kind and cases")
    raw_cases = doc.get("cases")
    if not isinstance(raw_cases, list):
        raise SuiteFormatError(path, 1, "'cases' must be a list")
    lines = _case_lines(text)
    items = [(lines[i] if i < len(lines) else None, c) for i, c in enumerate(raw_cases)]
    return {k: v for k, v in doc.items() if k != "cases"}, items, 1


def _read_jsonl(path: Path, text: str) -> tuple[dict[str, Any], Items, int]:
    header: dict[str, Any] | None = None
    header_line = 1
    items: Items = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise SuiteFormatError(path, lineno, f"invalid JSON: {exc}") from exc
        if header is None:
            if not isinstance(obj, dict) or set(obj) != {"suite"} or not isinstance(obj["suite"], dict):
                raise SuiteFormatError(path, lineno, 'the first line must be {"suite": {"name": ..., "kind": ...}}')
            # A "cases" key in the header line has always been ignored: the cases are the other lines.
            header = {k: v for k, v in obj["suite"].items() if k != "cases"}
            header_line = lineno
            continue
        items.append((lineno, obj))
    if header is None:
        raise SuiteFormatError(path, None, "empty suite file")
    return header, items, header_line


def load_suite(path: Path | str) -> Suite:
    """Load and validate one suite file (``.yaml``/``.yml``/``.jsonl``)."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"suite file {path} does not exist", field="suites")
    if path.suffix not in SUFFIXES:
        raise SuiteFormatError(path, None, "suite files must end in .yaml, .yml or .jsonl")
    text = path.read_text(encoding="utf-8")
    read = _read_jsonl if path.suffix == ".jsonl" else _read_yaml
    header, items, header_line = read(path, text)
    return _build_suite(path, header, items, header_line)


def _build_suite(path: Path, raw_header: dict[str, Any], items: Items, header_line: int) -> Suite:
    try:
        header = SuiteHeader.model_validate(raw_header)
    except ValidationError as exc:
        raise SuiteFormatError(path, header_line, describe(exc, "suite ")) from None
    if not items:
        raise SuiteFormatError(path, header_line, "a suite needs at least one case")
    defaults = header.defaults or CaseDefaults()
    cases: list[Case] = []
    seen: dict[str, int | None] = {}
    for line, raw in items:
        case = _build_case(path, line, raw, defaults)
        if case.id in seen:
            raise SuiteFormatError(path, line, f"duplicate case id {case.id!r} (first at line {seen[case.id]})")
        seen[case.id] = line
        cases.append(case)
    max_tokens = header.generation.max_tokens if header.generation else None
    return Suite(name=header.name, kind=header.kind, description=header.description, cases=tuple(cases),
                 path=str(path), max_tokens=max_tokens)


def _build_case(path: Path, line: int | None, raw: Any, defaults: CaseDefaults) -> Case:
    if not isinstance(raw, dict):
        raise SuiteFormatError(path, line, "each case must be a mapping")
    cid = raw.get("id")
    label = f"case {cid!r}: " if cid is not None else "case: "
    try:
        return CaseEntry.model_validate(raw).resolve(defaults, f"{path.name}:{line}" if line else path.name)
    except ValidationError as exc:
        raise SuiteFormatError(path, line, describe(exc, label)) from None


class SuiteCatalog:
    """All suites found in some directories (the shipped ones by default), by name."""

    def __init__(self, dirs: Iterable[Path | str] = (SHIPPED_DIR,)) -> None:
        self._suites: dict[str, Suite] = {}
        for d in dirs:
            for path in sorted(Path(d).iterdir()):
                if path.suffix not in SUFFIXES:
                    continue
                suite = load_suite(path)
                if suite.name in self._suites:
                    raise SuiteFormatError(path, None, f"suite name {suite.name!r} already defined in "
                                                       f"{self._suites[suite.name].path}")
                self._suites[suite.name] = suite

    def names(self) -> list[str]:
        return sorted(self._suites)

    def all(self) -> list[Suite]:
        return [self._suites[n] for n in self.names()]

    def get(self, name: str, field: str = "suites") -> Suite:
        try:
            return self._suites[name]
        except KeyError:
            raise NotFound(f"unknown suite {quote(name)} (known: {', '.join(self.names())})", field=field) from None

    def select(self, names: Iterable[str]) -> list[Suite]:
        """Suites by name in the given order (duplicates rejected); every suite when empty."""
        names = list(names)
        if not names:
            return self.all()
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InvalidArgument(f"suite(s) listed twice: {', '.join(quote(d) for d in dup)}", field="suites")
        return [self.get(n) for n in names]
