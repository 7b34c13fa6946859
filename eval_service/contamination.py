"""Contamination: which suite cases also appear in a training dataset.

A case the model was trained on measures memorisation, not behaviour. The check compares the
case's user request with every user turn (or prompt) of the training records:

- both are normalised (Unicode, quotes, case) and reduced to their words;
- a case is *contaminated* when its whole word sequence occurs verbatim inside one training
  prompt: equal, or wrapped ("Quick question: <case>", "<case> Be detailed."). Contaminated cases
  are excluded from gating and counted by the ``contamination`` gate;
- a case is a *near duplicate* when at least ``CONTAINMENT`` of its word trigrams occur in a
  single training prompt (containment, not Jaccard, so wrappers do not dilute it). Near duplicates
  are reported, not gated: template-generated tasks (the bundled support tickets) share most
  trigrams between training and held-out tickets by construction, and that is generalisation
  to new slot values rather than memorisation.

Trigram containment is what lm-eval-harness style decontamination uses with longer n-grams; with
short prompts, trigrams keep the check sensitive while two prompts that merely share a topic
("kill a Python process" vs "kill all Docker containers") stay apart. The shipped suites are
tested to have no contaminated case and no near duplicate of the bundled training data.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from eval_service.scoring.normalize import normalize_text
from lorafleet.registry.models import VersionRecord
from lorafleet.registry.store import Registry

log = logging.getLogger(__name__)

CONTAINMENT = 0.6
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _WORD.findall(normalize_text(text))


def trigrams(ws: list[str]) -> set[tuple[str, ...]]:
    if len(ws) < 3:
        return {tuple(ws)} if ws else set()
    return {tuple(ws[i:i + 3]) for i in range(len(ws) - 2)}


def training_prompts(record: dict) -> list[str]:
    """User-side texts of one training record (chat ``messages``, ``prompt``, ``instruction``/``input``, ``text``)."""
    out: list[str] = []
    msgs = record.get("messages")
    if isinstance(msgs, list):
        out += [m["content"] for m in msgs
                if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)]
    for key in ("prompt", "instruction", "input", "question", "text"):
        if isinstance(record.get(key), str):
            out.append(record[key])
    return out


def read_jsonl_prompts(path: Path) -> list[str]:
    prompts: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a training file is validated by the trainer; an odd line is not a match
            if isinstance(rec, dict):
                prompts += training_prompts(rec)
    return prompts


@dataclass(frozen=True)
class Match:
    case_id: str
    similarity: float
    training_text: str
    verbatim: bool


class OverlapIndex:
    """Inverted index from word trigram to training prompts, for fast containment lookups."""

    def __init__(self, prompts: Iterable[str]) -> None:
        self._texts: list[str] = []
        self._exact: dict[str, int] = {}
        self._joined: list[str] = []
        self._grams: list[set[tuple[str, ...]]] = []
        self._index: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for text in prompts:
            ws = words(text)
            if not ws:
                continue
            i = len(self._texts)
            self._texts.append(text)
            self._exact.setdefault(" ".join(ws), i)
            self._joined.append(f" {' '.join(ws)} ")
            grams = trigrams(ws)
            self._grams.append(grams)
            for g in grams:
                self._index[g].append(i)

    def __len__(self) -> int:
        return len(self._texts)

    def best(self, text: str) -> tuple[float, str]:
        """Highest containment of ``text``'s trigrams in one training prompt, and that prompt."""
        ws = words(text)
        if not ws:
            return 0.0, ""
        exact = self._exact.get(" ".join(ws))
        if exact is not None:
            return 1.0, self._texts[exact]
        grams = trigrams(ws)
        hits: dict[int, int] = defaultdict(int)
        for g in grams:
            for i in self._index.get(g, ()):
                hits[i] += 1
        if not hits:
            return 0.0, ""
        i, n = max(hits.items(), key=lambda kv: kv[1])
        return n / len(grams), self._texts[i]

    def verbatim(self, text: str) -> str | None:
        """The training prompt that contains ``text``'s whole word sequence, if any."""
        ws = words(text)
        if not ws:
            return None
        needle = f" {' '.join(ws)} "
        exact = self._exact.get(" ".join(ws))
        if exact is not None:
            return self._texts[exact]
        grams = trigrams(ws)
        candidates: set[int] | None = None
        for g in grams:  # only prompts holding every trigram can contain the sequence
            ids = set(self._index.get(g, ()))
            candidates = ids if candidates is None else candidates & ids
            if not candidates:
                return None
        for i in sorted(candidates or ()):
            if needle in self._joined[i]:
                return self._texts[i]
        return None

    def matches(self, cases: Iterable[tuple[str, str]], threshold: float = CONTAINMENT) -> list[Match]:
        """(case_id, text) pairs found verbatim or with trigram containment >= ``threshold``."""
        out = []
        for case_id, text in cases:
            hit = self.verbatim(text)
            if hit is not None:
                out.append(Match(case_id, 1.0, hit, True))
                continue
            sim, train = self.best(text)
            if sim >= threshold:
                out.append(Match(case_id, sim, train, False))
        return out


# -- a candidate's own training data ---------------------------------------------------------------
def candidate_training_prompts(registry: Registry, candidate: VersionRecord) -> list[str]:
    """User texts of the datasets in the candidate's lineage (training and validation), as stored by the
    trainer (``datasets/<sha256>.jsonl``, or where the ``datasets`` record says)."""
    prompts: list[str] = []
    for key in ("dataset_sha256", "validation_dataset_sha256"):
        sha = str(candidate.lineage.get(key) or "")
        if not sha:
            continue
        path = registry.artifacts.path(f"datasets/{sha}.jsonl")
        if not path.is_file():
            rec = registry.records("datasets").get(sha)
            rel = (rec.payload.get("relpath") if rec else None) or ""
            path = registry.artifacts.path(rel) if rel else path
        if path.is_file():
            prompts += read_jsonl_prompts(path)
        else:
            log.warning("training dataset not found for contamination check",
                        extra={"adapter": candidate.ref, "dataset_sha256": sha})
    return prompts


def check_candidate(registry: Registry, candidate: VersionRecord,
                    cases: Iterable[tuple[str, str]]) -> tuple[set[str], set[str]]:
    """Ids of the (case id, user text) ``cases`` found in the candidate's training data: (verbatim, near
    duplicates)."""
    prompts = candidate_training_prompts(registry, candidate)
    if not prompts:
        return set(), set()
    contaminated: set[str] = set()
    near: set[str] = set()
    for m in OverlapIndex(prompts).matches(cases):
        (contaminated if m.verbatim else near).add(m.case_id)
    return contaminated, near
