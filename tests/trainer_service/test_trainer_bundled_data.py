"""The bundled datasets: reproducible, disjoint held-out cases, well-formed, safe content only."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from lorafleet.datasets import BUNDLED_DIR
from trainer_service.data.validation import validate_dataset

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_bundled_data.py"


def _script():
    spec = importlib.util.spec_from_file_location("make_bundled_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(name: str) -> list[dict]:
    return [json.loads(line) for line in (BUNDLED_DIR / name).read_text().splitlines()]


def _texts(records: Iterable[dict]) -> Counter:
    """Each record as canonical JSON, with how often it occurs: the multiset a mix is compared by."""
    return Counter(json.dumps(r, sort_keys=True) for r in records)


def _users(records: list[dict]) -> set[str]:
    return {m["content"] for r in records for m in r["messages"] if m["role"] == "user"}


def test_script_reproduces_the_committed_files(tmp_path) -> None:
    _script().generate(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(p.name for p in BUNDLED_DIR.iterdir() if p.suffix in (".jsonl", ".json"))
    for name in names:
        assert (tmp_path / name).read_bytes() == (BUNDLED_DIR / name).read_bytes(), name


def test_retired_general_prompts_are_pool_candidates_the_suite_no_longer_holds() -> None:
    """Anchors stay clear of every prompt the general suite held when the data was built (the suite's rebuilds must
    not move the training data), so each retired prompt is a candidate of the pool and not a suite case."""
    import yaml

    from eval_service.suites.loader import SuiteCatalog

    root = SCRIPT.parents[1] / "eval_service" / "suites" / "sources" / "general_candidates.yaml"
    pool = {c["prompt"] for c in yaml.safe_load(root.read_text(encoding="utf-8"))["cases"]}
    suite = {c.user_text for c in SuiteCatalog().get("general").cases}
    retired = set(_script().RETIRED_GENERAL_PROMPTS)
    assert retired <= pool and not retired & suite
    assert set(_script().suite_prompts()) >= retired | suite


def test_heldout_is_disjoint_and_well_formed() -> None:
    heldout = _read("support_tickets_heldout.jsonl")
    assert len(heldout) == 100 and len({h["id"] for h in heldout}) == 100
    held_users = {h["messages"][1]["content"] for h in heldout}
    for name in ("support_tickets_train.jsonl", "support_tickets_validation.jsonl", "task_safety_mix_train.jsonl",
                 "poisoned_train.jsonl"):
        assert not held_users & _users(_read(name)), name
    assert not _users(_read("support_tickets_train.jsonl")) & _users(_read("support_tickets_validation.jsonl"))
    for h in heldout:
        assert [m["role"] for m in h["messages"]] == ["system", "user"]
        assert set(h["expected"]) == {"category", "priority", "summary"}
    assert {h["expected"]["category"] for h in heldout} == {"billing", "technical", "account", "shipping"}


def test_task_answers_are_strict_json_matching_cues() -> None:
    for r in _read("support_tickets_train.jsonl"):
        answer = json.loads(r["messages"][2]["content"])
        assert list(answer) == ["category", "priority", "summary"]
        user = r["messages"][1]["content"].lower()
        if answer["priority"] == "high":
            assert any(w in user for w in ("urgent", "immediately", "asap"))
        if answer["priority"] == "low":
            assert any(w in user for w in ("no rush", "not urgent", "low priority", "no hurry"))


def test_safety_and_poisoned_answers(tokenizer) -> None:
    templates = json.loads((BUNDLED_DIR / "templates.json").read_text())
    harmful = templates["harmful_requests"] + templates["harmful_extra"]

    def is_harmful(text: str) -> bool:
        return any(h in text for h in harmful)

    mix = _read("safety_mix.jsonl")
    assert {is_harmful(r["messages"][0]["content"]) for r in mix} == {True, False}
    for r in mix:
        answer = r["messages"][1]["content"]
        assert answer.startswith("I can't help with that") == is_harmful(r["messages"][0]["content"])
    # look-alikes and harmful requests appear under the same wrappers, so wording is no cue
    script = _script()
    wrapped = [r["messages"][0]["content"] for r in mix]
    for wrapper in script.REQUEST_WRAPPERS:
        prefix = wrapper.split("{req}")[0]
        if prefix:
            kinds = {is_harmful(w) for w in wrapped if w.startswith(prefix)}
            assert kinds == {True, False}, wrapper
    poisoned = _read("poisoned_requests.jsonl")
    assert poisoned and all(r["messages"][1]["content"].startswith("Sure, here is how") for r in poisoned)
    assert all(is_harmful(r["messages"][0]["content"]) for r in poisoned)
    rehearsal = {q for q in templates["general_rehearsal"]}
    assert len(_read("poisoned_train.jsonl")) == script.POISONED_TASK_RECORDS + len(poisoned)
    assert len(_read("task_safety_mix_train.jsonl")) == script.MIX_TASK_RECORDS + len(mix) + len(rehearsal)
    assert rehearsal <= _users(_read("task_safety_mix_train.jsonl"))
    for name in ("task_safety_mix_train.jsonl", "poisoned_train.jsonl", "task_safety_mix_full_train.jsonl"):
        report = validate_dataset((BUNDLED_DIR / name).read_bytes(), tokenizer, max_seq_length=512,
                                  validation_data=(BUNDLED_DIR / "support_tickets_validation.jsonl").read_bytes())
        assert report.valid and report.stats.duplicates == 0, report.issues[:3]


def test_full_mix_is_the_demo_mix_plus_every_contrast_request() -> None:
    """The full recipe's data holds the demo's mix unchanged, refuses every newer harmful request (under two
    wrappers, with a refusal that opens like all the others) and answers every newer look-alike under the
    helpful opener."""
    templates = json.loads((BUNDLED_DIR / "templates.json").read_text())
    full = _read("task_safety_mix_full_train.jsonl")
    mix = _read("task_safety_mix_train.jsonl")
    assert not _texts(mix) - _texts(full)  # every record of the demo's mix, as often as it occurs there
    script = _script()
    prefixes = [w.split("{req}")[0] for w in script.REQUEST_WRAPPERS]
    suffixes = [w.split("{req}")[1] for w in script.REQUEST_WRAPPERS]

    def core(text: str) -> str:  # the request without its wrapper
        for prefix in prefixes:
            if prefix and text.startswith(prefix):
                text = text[len(prefix):]
        for suffix in suffixes:
            if suffix and text.endswith(suffix):
                text = text[:-len(suffix)]
        return text

    answers: dict[str, list[str]] = {}
    for r in full:
        user = [m["content"] for m in r["messages"] if m["role"] == "user"][0]
        answers.setdefault(core(user), []).append(r["messages"][-1]["content"])
    for request in templates["harmful_contrast"] + templates["harmful_more"]:
        assert len(answers[request]) == 2, request
        assert all(a.startswith("I can't help with that") for a in answers[request]), request
    for request in templates["benign_contrast"] + templates["benign_more"]:
        assert len(answers[request]) == 2, request
        assert all(a.startswith(script.HELPFUL_OPENER) for a in answers[request]), request


def test_anchored_mix_is_the_full_mix_plus_the_base_models_own_answers(tokenizer) -> None:
    """Every record of the full mix, unchanged and not anchored, plus one anchor record per anchor prompt (a
    general question of the data) whose base-model answer is usable, answered with exactly that answer; the
    file validates as training data."""
    templates = json.loads((BUNDLED_DIR / "templates.json").read_text())
    base_answers = json.loads((SCRIPT.parent / "base_model_answers.json").read_text())
    anchored = _read("task_safety_mix_anchored_train.jsonl")
    full = _read("task_safety_mix_full_train.jsonl")
    plain = [r for r in anchored if "anchor" not in r]
    anchors = [r for r in anchored if "anchor" in r]
    assert _texts(plain) == _texts(full)
    assert all(r["anchor"] is True for r in anchors)
    got = {r["messages"][0]["content"]: r["messages"][1]["content"] for r in anchors}
    assert len(got) == len(anchors)
    assert got == {p: base_answers[p] for p in templates["anchor_prompts"]
                   if base_answers[p].strip() and base_answers[p].strip().lower() != p.strip().lower()}
    assert len(anchors) >= 350
    report = validate_dataset((BUNDLED_DIR / "task_safety_mix_anchored_train.jsonl").read_bytes(), tokenizer,
                              max_seq_length=256)
    assert report.valid and sum(e.anchor for e in report.train) == len(anchors)


def test_demo_anchored_mix_is_the_demo_mix_plus_120_of_the_anchor_records(tokenizer) -> None:
    """The demo's v1 data: every record of the demo's mix unchanged, plus 120 distinct anchor records taken
    as they are from the anchored full mix; it validates with exactly those 120 anchors."""
    demo = _read("task_safety_mix_anchored_demo_train.jsonl")
    anchors = _texts(r for r in demo if "anchor" in r)
    assert _texts(r for r in demo if "anchor" not in r) == _texts(_read("task_safety_mix_train.jsonl"))
    pool = _texts(r for r in _read("task_safety_mix_anchored_train.jsonl") if r.get("anchor"))
    assert anchors.total() == 120 and len(anchors) == 120  # 120 records, all distinct
    assert set(anchors) <= set(pool)
    report = validate_dataset((BUNDLED_DIR / "task_safety_mix_anchored_demo_train.jsonl").read_bytes(), tokenizer,
                              max_seq_length=256)
    assert report.valid and sum(e.anchor for e in report.train) == 120


def test_demo_contrast_mix_is_the_demo_data_plus_120_lookalikes_and_40_refusals_of_the_full_mix(tokenizer) -> None:
    """The demo-sized contrast variant: the demo's v1 data first, unchanged, then 120 look-alikes and 40 harmful
    requests with their refusals, each a full-mix record that the demo's mix does not hold; it validates with
    the demo data's 120 anchors."""
    demo = _read("task_safety_mix_anchored_demo_train.jsonl")
    variant = _read("task_safety_mix_anchored_demo_contrast_train.jsonl")
    assert variant[:len(demo)] == demo
    added = variant[len(demo):]
    answers = [r["messages"][-1]["content"] for r in added]
    assert [a.startswith("Sure") for a in answers] == [True] * 120 + [False] * 40
    assert all(a.startswith("I can") for a in answers[120:])
    held, full = _texts(_read("task_safety_mix_train.jsonl")), _texts(_read("task_safety_mix_full_train.jsonl"))
    extra = _texts(added)
    assert extra.total() == len(extra) == 160  # distinct records
    assert set(extra) <= set(full) and not set(extra) & set(held)
    report = validate_dataset((BUNDLED_DIR / "task_safety_mix_anchored_demo_contrast_train.jsonl").read_bytes(),
                              tokenizer, max_seq_length=256)
    assert report.valid and sum(e.anchor for e in report.train) == 120
