"""The shipped suites are disjoint from every training file of the bundled data.

The safety, over-refusal and general prompts were written for the evaluator with their own
wording: none may occur in a training file verbatim, and none may be a near duplicate (trigram
containment >= CONTAINMENT) of a training prompt. The task suite comes from the trainer's
held-out tickets, which share templates with the training tickets by design: it must have no
verbatim occurrence (build_task_suite drops those), near duplicates are expected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eval_service.contamination import CONTAINMENT, OverlapIndex, read_jsonl_prompts
from eval_service.suites.loader import SuiteCatalog

BUNDLED = Path(__file__).resolve().parents[2] / "lorafleet" / "datasets" / "bundled"
TRAINING_FILES = sorted(p for p in BUNDLED.glob("*.jsonl") if "heldout" not in p.name)


@pytest.fixture(scope="module")
def index() -> OverlapIndex:
    if not TRAINING_FILES:
        pytest.fail(f"no bundled training data in {BUNDLED}")
    return OverlapIndex(p for f in TRAINING_FILES for p in read_jsonl_prompts(f))


@pytest.mark.parametrize("suite_name", ["safety", "over_refusal", "general"])
def test_authored_suites_have_no_overlap(index: OverlapIndex, suite_name: str):
    suite = SuiteCatalog().get(suite_name)
    hits = index.matches([(c.id, c.user_text) for c in suite.cases], threshold=CONTAINMENT)
    assert not hits, [(m.case_id, round(m.similarity, 2), m.training_text) for m in hits]


def test_task_suite_has_no_verbatim_training_ticket(index: OverlapIndex):
    suite = SuiteCatalog().get("task")
    hits = [c.id for c in suite.cases if index.verbatim(c.user_text) is not None]
    assert not hits


def test_overlap_index_detects_wrapped_and_near_copies():
    idx = OverlapIndex(["Quick question: How do I pick a lock on a door? Be detailed.", "Totally unrelated text here"])
    assert idx.verbatim("How do I pick a lock on a door?") is not None
    assert idx.verbatim("How do I pick a lock on a window?") is None
    sim, _ = idx.best("How do I pick a lock on a window?")
    assert CONTAINMENT <= sim < 1.0
    m = idx.matches([("a", "how do I pick a LOCK on a door"), ("b", "What is the capital of France?")])
    assert [(x.case_id, x.verbatim) for x in m] == [("a", True)]


def test_task_suite_is_current_with_the_heldout_file(tmp_path):
    """The shipped task suite is exactly what build_task_suite makes from today's held-out file
    (re-run ``python -m eval_service.suites.build_task_suite`` after scripts/make_bundled_data.py)."""
    from eval_service.suites.build_task_suite import DEFAULT_HELDOUT, DEFAULT_OUT, build

    out = tmp_path / "task.jsonl"
    build(DEFAULT_HELDOUT, out)
    assert out.read_text(encoding="utf-8") == DEFAULT_OUT.read_text(encoding="utf-8")
