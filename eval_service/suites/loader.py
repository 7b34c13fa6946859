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

Validation happens here, once: unknown keys, missing prompt, both prompt and messages, bad roles,
a conversation that does not end with a user turn, duplicate ids, unknown scorers and invalid
expected values (bad regex, bad JSON Schema...) are all reported as ``path:line: case 'id': why``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from eval_service.scoring.scorers import get_scorer
from lorafleet.errors import InvalidArgument, NotFound

SHIPPED_DIR = Path(__file__).parent / "data"
SUITE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
ROLES = ("system", "user", "assistant")
CASE_KEYS = {"id", "prompt", "messages", "scorer", "expected", "params", "tags", "description"}
SUITE_KEYS = {"name", "kind", "description", "defaults", "generation", "cases"}
MAX_TOKENS_LIMIT = 4096
DEFAULT_KEYS = {"scorer", "expected", "params", "tags"}


class SuiteKind(str, Enum):
    TASK = "task"
    SAFETY = "safety"
    OVER_REFUSAL = "over_refusal"
    GENERAL = "general"


class SuiteFormatError(InvalidArgument):
    """A suite file is malformed; the message starts with ``path:line:``."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}", field="suites")
        self.path = str(path)
        self.line = line


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class Case:
    id: str
    scorer: str
    messages: tuple[Message, ...]
    expected: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    prompt: str | None = None
    source: str = ""

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


@dataclass(frozen=True)
class Suite:
    name: str
    kind: SuiteKind
    description: str
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
        cases = tuple(self.cases[i] for i in sorted(picked))
        return Suite(self.name, self.kind, self.description, cases, self.path, self.max_tokens)


# -- YAML line numbers ------------------------------------------------------------------------
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


def load_suite(path: Path | str) -> Suite:
    """Load and validate one suite file (``.yaml``/``.yml``/``.jsonl``)."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"suite file {path} does not exist", field="suites")
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise SuiteFormatError(path, mark.line + 1 if mark else None, f"invalid YAML: {getattr(exc, 'problem', exc)}") from exc
        if not isinstance(doc, dict):
            raise SuiteFormatError(path, 1, "a suite file must be a mapping with name, kind and cases")
        raw_cases = doc.get("cases")
        if not isinstance(raw_cases, list):
            raise SuiteFormatError(path, 1, "'cases' must be a list")
        lines = _case_lines(text)
        header = {k: v for k, v in doc.items() if k != "cases"}
        items = [(lines[i] if i < len(lines) else None, c) for i, c in enumerate(raw_cases)]
        header_line = 1
    elif path.suffix == ".jsonl":
        header, items, header_line = None, [], 1
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
                header, header_line = obj["suite"], lineno
                continue
            items.append((lineno, obj))
        if header is None:
            raise SuiteFormatError(path, None, "empty suite file")
    else:
        raise SuiteFormatError(path, None, "suite files must end in .yaml, .yml or .jsonl")
    return _build_suite(path, header, items, header_line)


def _build_suite(path: Path, header: dict[str, Any], items: list[tuple[int | None, Any]], header_line: int) -> Suite:
    unknown = set(header) - SUITE_KEYS
    if unknown:
        raise SuiteFormatError(path, header_line, f"unknown suite keys {sorted(unknown)} (allowed: {sorted(SUITE_KEYS - {'cases'})})")
    name = header.get("name")
    if not isinstance(name, str) or not SUITE_NAME_RE.match(name):
        raise SuiteFormatError(path, header_line, f"suite name {name!r} must match {SUITE_NAME_RE.pattern}")
    try:
        kind = SuiteKind(header.get("kind"))
    except ValueError:
        raise SuiteFormatError(path, header_line, f"suite kind {header.get('kind')!r} must be one of {[k.value for k in SuiteKind]}") from None
    description = header.get("description", "")
    if not isinstance(description, str):
        raise SuiteFormatError(path, header_line, "description must be a string")
    defaults = header.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - DEFAULT_KEYS:
        raise SuiteFormatError(path, header_line, f"defaults must be a mapping with keys from {sorted(DEFAULT_KEYS)}")
    generation = header.get("generation") or {}
    if not isinstance(generation, dict) or set(generation) - {"max_tokens"}:
        raise SuiteFormatError(path, header_line, "generation must be a mapping with the key max_tokens")
    max_tokens = generation.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or not 1 <= max_tokens <= MAX_TOKENS_LIMIT):
        raise SuiteFormatError(path, header_line, f"generation.max_tokens must be an integer in 1..{MAX_TOKENS_LIMIT}")
    if not items:
        raise SuiteFormatError(path, header_line, "a suite needs at least one case")
    cases: list[Case] = []
    seen: dict[str, int | None] = {}
    for line, raw in items:
        case = _build_case(path, line, raw, defaults)
        if case.id in seen:
            raise SuiteFormatError(path, line, f"duplicate case id {case.id!r} (first at line {seen[case.id]})")
        seen[case.id] = line
        cases.append(case)
    return Suite(name=name, kind=kind, description=description, cases=tuple(cases), path=str(path), max_tokens=max_tokens)


def _build_case(path: Path, line: int | None, raw: Any, defaults: dict[str, Any]) -> Case:
    if not isinstance(raw, dict):
        raise SuiteFormatError(path, line, "each case must be a mapping")
    cid = raw.get("id")
    label = f"case {cid!r}" if cid is not None else "case"

    def fail(msg: str) -> SuiteFormatError:
        return SuiteFormatError(path, line, f"{label}: {msg}")

    unknown = set(raw) - CASE_KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)} (allowed: {sorted(CASE_KEYS)})")
    if not isinstance(cid, str) or not CASE_ID_RE.match(cid):
        raise fail(f"id must match {CASE_ID_RE.pattern}")
    merged = {**defaults, **raw}
    prompt, messages = raw.get("prompt"), raw.get("messages")
    if (prompt is None) == (messages is None):
        raise fail("set exactly one of 'prompt' and 'messages'")
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise fail("prompt must be a non-empty string")
        msgs = (Message("user", prompt),)
    else:
        if not isinstance(messages, list) or not messages:
            raise fail("messages must be a non-empty list")
        built = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or set(m) != {"role", "content"}:
                raise fail(f"messages[{i}] must have exactly 'role' and 'content'")
            if m["role"] not in ROLES:
                raise fail(f"messages[{i}].role {m['role']!r} must be one of {ROLES}")
            if not isinstance(m["content"], str) or not m["content"].strip():
                raise fail(f"messages[{i}].content must be a non-empty string")
            built.append(Message(m["role"], m["content"]))
        if built[-1].role != "user":
            raise fail("the last message must be a user turn (the model answers it)")
        msgs = tuple(built)
    scorer = merged.get("scorer")
    if not isinstance(scorer, str):
        raise fail("scorer must be set (on the case or in the suite defaults)")
    params = merged.get("params") or {}
    if not isinstance(params, dict):
        raise fail("params must be a mapping")
    tags = merged.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise fail("tags must be a list of non-empty strings")
    try:
        get_scorer(scorer).validate(merged.get("expected"), params)
    except ValueError as exc:
        raise fail(str(exc)) from None
    return Case(id=cid, scorer=scorer, messages=msgs, expected=merged.get("expected"), params=params,
                tags=tuple(tags), prompt=prompt, source=f"{path.name}:{line}" if line else path.name)


class SuiteCatalog:
    """All suites found in some directories (the shipped ones by default), by name."""

    def __init__(self, dirs: Iterable[Path | str] = (SHIPPED_DIR,)) -> None:
        self._suites: dict[str, Suite] = {}
        for d in dirs:
            for path in sorted(Path(d).iterdir()):
                if path.suffix not in (".yaml", ".yml", ".jsonl"):
                    continue
                suite = load_suite(path)
                if suite.name in self._suites:
                    raise SuiteFormatError(path, None, f"suite name {suite.name!r} already defined in {self._suites[suite.name].path}")
                self._suites[suite.name] = suite

    def names(self) -> list[str]:
        return sorted(self._suites)

    def all(self) -> list[Suite]:
        return [self._suites[n] for n in self.names()]

    def get(self, name: str, field: str = "suites") -> Suite:
        try:
            return self._suites[name]
        except KeyError:
            raise NotFound(f"unknown suite {name!r} (known: {', '.join(self.names())})", field=field) from None

    def select(self, names: Iterable[str]) -> list[Suite]:
        """Suites by name in the given order (duplicates rejected); every suite when empty."""
        names = list(names)
        if not names:
            return self.all()
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InvalidArgument(f"suite(s) listed twice: {', '.join(dup)}", field="suites")
        return [self.get(n) for n in names]
