"""Scorers: turn one model output into pass/fail, a score in [0, 1] and a human-readable reason.

Every scorer has two halves: ``validate(expected, params)`` runs when a suite is loaded, so a bad
regex or schema is reported with its file and line instead of failing mid-evaluation, and
``score(output, expected, params)``. The names are the ones suite files use:

- ``exact``: normalised output equals the expected string (or one of a list). Normalisation
  (``normalize.normalize_text``) folds Unicode forms, quotes, case and whitespace and, unless
  ``params.strip_punctuation`` is false, trailing sentence punctuation.
- ``contains``: the normalised output contains the expected string on word boundaries ("4" does
  not match "14"); a list means any of them (``params.mode: all`` for all of them; then the score
  is the fraction found). ``params.reject`` lists wrong answers (TruthfulQA's "incorrect answers"):
  an output that contains one of them, on the same terms, fails even when it also holds an expected
  string, because a self-contradicting answer ("A hexagon has eight sides … six straight lines") or
  an echo of the question ("The capital of Singapore is Jakarta") shows no knowledge.
- ``regex``: ``re.search`` of the expected pattern on the Unicode/quote/whitespace-normalised
  output; case-insensitive unless ``params.ignore_case`` is false.
- ``json_valid``: the output holds a JSON value (see ``extract_json``).
- ``json_schema``: that JSON value validates against the expected JSON Schema (Draft 2020-12).
- ``json_field``: expected is ``{field: value}`` (dotted paths for nested fields); the score is the
  fraction of fields equal (strings compared normalised); passing needs every field in
  ``params.pass_fields`` (default: all expected fields).
- ``refusal`` / ``compliance``: the refusal detector (``refusal.py``) says refused / answered.
- ``length``: ``params`` ``min_chars``/``max_chars``/``min_words``/``max_words`` bounds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

from eval_service.scoring.normalize import normalize_text
from eval_service.scoring.refusal import detect_refusal


@dataclass(frozen=True)
class ScoreResult:
    passed: bool
    score: float
    reason: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score {self.score} outside [0, 1]")


class Scorer(Protocol):
    name: str

    def validate(self, expected: Any, params: dict[str, Any]) -> None: ...

    def score(self, output: str, expected: Any, params: dict[str, Any]) -> ScoreResult: ...


def _ok(reason: str) -> ScoreResult:
    return ScoreResult(True, 1.0, reason)


def _fail(reason: str, score: float = 0.0) -> ScoreResult:
    return ScoreResult(False, score, reason)


def _short(text: str, n: int = 60) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def _string_list(expected: Any, scorer: str) -> list[str]:
    values = [expected] if isinstance(expected, str) else expected
    if not isinstance(values, list) or not values or not all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v).strip() for v in values):
        raise ValueError(f"{scorer}: expected must be a non-empty string or a non-empty list of non-empty strings "
                         "(quote YAML words like yes/no/on/off, which YAML reads as booleans)")
    return [str(v) for v in values]


def _check_params(params: dict[str, Any], allowed: set[str], scorer: str) -> None:
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"{scorer}: unknown params {sorted(unknown)} (allowed: {sorted(allowed) or 'none'})")


_TRAILING_PUNCT = re.compile(r"[\s.!?,;:]+$")


class ExactScorer:
    name = "exact"

    def validate(self, expected: Any, params: dict[str, Any]) -> None:
        _string_list(expected, self.name)
        _check_params(params, {"strip_punctuation"}, self.name)

    def score(self, output: str, expected: Any, params: dict[str, Any]) -> ScoreResult:
        strip = params.get("strip_punctuation", True)

        def norm(s: str) -> str:
            s = normalize_text(s)
            return _TRAILING_PUNCT.sub("", s) if strip else s

        got = norm(output)
        for want in _string_list(expected, self.name):
            if got == norm(want):
                return _ok(f"equals {want!r}")
        return _fail(f"{_short(output)!r} is not {_string_list(expected, self.name)!r}")


class ContainsScorer:
    name = "contains"

    def validate(self, expected: Any, params: dict[str, Any]) -> None:
        wanted = _string_list(expected, self.name)
        _check_params(params, {"mode", "word_boundary", "reject"}, self.name)
        if params.get("mode", "any") not in ("any", "all"):
            raise ValueError("contains: params.mode must be 'any' or 'all'")
        if "reject" in params:
            rejected = _string_list(params["reject"], "contains: params.reject")
            both = {normalize_text(w) for w in wanted} & {normalize_text(r) for r in rejected}
            if both:
                raise ValueError(f"contains: {sorted(both)!r} is both expected and rejected")

    @staticmethod
    def _found(text: str, values: list[str], bounded: bool) -> list[str]:
        found = []
        for value in values:
            needle = re.escape(normalize_text(value))
            if re.search(rf"(?<!\w){needle}(?!\w)" if bounded else needle, text):
                found.append(value)
        return found

    def score(self, output: str, expected: Any, params: dict[str, Any]) -> ScoreResult:
        text = normalize_text(output)
        wanted = _string_list(expected, self.name)
        bounded = params.get("word_boundary", True)
        found = self._found(text, wanted, bounded)
        if "reject" in params:
            wrong = self._found(text, _string_list(params["reject"], "contains: params.reject"), bounded)
            if wrong:
                return _fail(f"contains the wrong answer {wrong[0]!r}")
        if params.get("mode", "any") == "all":
            frac = len(found) / len(wanted)
            missing = [w for w in wanted if w not in found]
            return _ok(f"contains all of {wanted!r}") if not missing else _fail(f"missing {missing!r}", frac)
        return _ok(f"contains {found[0]!r}") if found else _fail(f"contains none of {wanted!r}")


class RegexScorer:
    name = "regex"

    def validate(self, expected: Any, params: dict[str, Any]) -> None:
        if not isinstance(expected, str) or not expected:
            raise ValueError("regex: expected must be a non-empty pattern string")
        _check_params(params, {"ignore_case"}, self.name)
        try:
            re.compile(expected)
        except re.error as exc:
            raise ValueError(f"regex: invalid pattern {expected!r}: {exc}") from exc

    def score(self, output: str, expected: Any, params: dict[str, Any]) -> ScoreResult:
        flags = re.IGNORECASE if params.get("ignore_case", True) else 0
        m = re.search(expected, normalize_text(output, casefold=False), flags | re.DOTALL)
        return _ok(f"matches at {m.group(0)!r}") if m else _fail(f"no match for /{expected}/")


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> tuple[bool, Any, str]:
    """Find the JSON value in a response: the whole text, else a ```json fence, else the first
    ``{``/``[`` that starts a decodable value (models often add a sentence around it).
    Returns (found, value, error)."""
    stripped = text.strip()
    candidates = [stripped] + [m.group(1).strip() for m in _FENCE.finditer(text)]
    for cand in candidates:
        try:
            return True, json.loads(cand), ""
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, m.start())
            return True, value, ""
        except ValueError:
            continue
    return False, None, "no JSON value found"


class JsonValidScorer:
    name = "json_valid"

    def validate(self, expected: Any, params: dict[str, Any]) -> None:
        _check_params(params, set(), self.name)

    def score(self, output: str, expected: Any, params: dict[str, Any]) -> ScoreResult:
        found, value, err = extract_json(output)
        return _ok(f"valid JSON {type(value).__name__}") if found else _fail(err)


class JsonSchemaScorer:
    name = "json_schema"

    def validate(self, expected: Any, params: dict[str, Any]) -> None:
        import jsonschema

        if not isinstance(expected, dict):
            raise ValueError("json_schema: expected must be a JSON Schema object")
        _check_params(params, set(), self.name)
        try:
            jsonschema.Draft202012Validator.check_schema(expected)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"json_schema: invalid schema: {exc.message}") from exc

    def score(self, output: str, expected: Any, params: dict[str, Any]) -> ScoreResult:
        import jsonschema

        found, value, err = extract_json(output)
        if not found:
            return _fail(err)
        errors = sorted(jsonschema.Draft202012Validator(expected).iter_errors(value), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "<root>"
            return _fail(f"schema violation at {where}: {errors[0].message}")
        return _ok("matches schema")


def _field(value: Any, path: str) -> tuple[bool, Any]:
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return normalize_text(a) == normalize_text(b)
    return a == b


class JsonFieldScorer:
    name = "json_field"

    def validate(self, expected: Any, params: dict[str, Any]) -> None:
        if not isinstance(expected, dict) or not expected:
            raise ValueError("json_field: expected must be a non-empty mapping of field -> value")
        _check_params(params, {"pass_fields"}, self.name)
        pass_fields = params.get("pass_fields", list(expected))
        if not isinstance(pass_fields, list) or not set(pass_fields) <= set(expected):
            raise ValueError(f"json_field: pass_fields must be a list of expected fields {sorted(expected)}")

    def score(self, output: str, expected: Any, params: dict[str, Any]) -> ScoreResult:
        found, value, err = extract_json(output)
        if not found:
            return _fail(err)
        wrong: dict[str, str] = {}
        for key, want in expected.items():
            present, got = _field(value, key)
            if not (present and _same(got, want)):
                wrong[key] = f"{key}={got!r} (want {want!r})" if present else f"{key} missing"
        score = (len(expected) - len(wrong)) / len(expected)
        pass_fields = params.get("pass_fields", list(expected))
        failing = [desc for key, desc in wrong.items() if key in pass_fields]
        if failing:
            return _fail(f"wrong: {', '.join(failing)}", score)
        if wrong:
            return ScoreResult(True, score, f"required fields match; also wrong: {', '.join(wrong.values())}")
        return ScoreResult(True, score, "fields match")


class RefusalScorer:
    name = "refusal"

    def validate(self, expected: Any, params: dict[str, Any]) -> None:
        _check_params(params, set(), self.name)

    def score(self, output: str, expected: Any, params: dict[str, Any]) -> ScoreResult:
        v = detect_refusal(output)
        return _ok(f"refused ({v.category})") if v.refused else _fail(f"answered ({v.category})")


class ComplianceScorer:
    name = "compliance"

    def validate(self, expected: Any, params: dict[str, Any]) -> None:
        _check_params(params, set(), self.name)

    def score(self, output: str, expected: Any, params: dict[str, Any]) -> ScoreResult:
        v = detect_refusal(output)
        if v.refused:
            return _fail(f"refused ({v.category}: {_short(v.evidence)!r})")
        return _ok(f"answered ({v.category})")


class LengthScorer:
    name = "length"
    _KEYS = ("min_chars", "max_chars", "min_words", "max_words")

    def validate(self, expected: Any, params: dict[str, Any]) -> None:
        _check_params(params, set(self._KEYS), self.name)
        if not params:
            raise ValueError("length: set at least one of min_chars, max_chars, min_words, max_words in params")
        for k, v in params.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"length: params.{k} must be a non-negative integer")
        for lo, hi in (("min_chars", "max_chars"), ("min_words", "max_words")):
            if lo in params and hi in params and params[lo] > params[hi]:
                raise ValueError(f"length: params.{lo} > params.{hi}")

    def score(self, output: str, expected: Any, params: dict[str, Any]) -> ScoreResult:
        chars, words = len(output.strip()), len(output.split())
        checks = [("min_chars", chars, lambda a, b: a >= b), ("max_chars", chars, lambda a, b: a <= b),
                  ("min_words", words, lambda a, b: a >= b), ("max_words", words, lambda a, b: a <= b)]
        for key, observed, ok in checks:
            if key in params and not ok(observed, params[key]):
                return _fail(f"{key.split('_')[1]}={observed} violates {key}={params[key]}")
        return _ok(f"{chars} chars, {words} words within bounds")


SCORERS: dict[str, Scorer] = {
    s.name: s
    for s in (ExactScorer(), ContainsScorer(), RegexScorer(), JsonValidScorer(), JsonSchemaScorer(),
              JsonFieldScorer(), RefusalScorer(), ComplianceScorer(), LengthScorer())
}


def is_graded(scorer: str, params: dict[str, Any] | None = None) -> bool:
    """True for scorers whose score can lie strictly between 0 and 1 (partial credit)."""
    return scorer == "json_field" or (scorer == "contains" and (params or {}).get("mode") == "all")


def get_scorer(name: str) -> Scorer:
    try:
        return SCORERS[name]
    except KeyError:
        raise ValueError(f"unknown scorer {name!r} (known: {', '.join(sorted(SCORERS))})") from None


def score_output(scorer: str, output: str, expected: Any, params: dict[str, Any] | None = None) -> ScoreResult:
    return get_scorer(scorer).score(output, expected, params or {})
