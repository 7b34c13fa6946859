"""The anchored recipe's data (``task_safety_mix_anchored_train.jsonl``): the full mix plus anchor records.

An anchor record (``"anchor": true``, ``trainer_service/data/formats.py``) is trained toward the base model's
own next-token distribution along its answer, not toward the answer's text. Here: one record per general
question of the data (``anchor_content.ANCHOR_QUESTIONS``, then the preference data's general questions and the
general rehearsal's), answered by the base model itself (greedy, ``base_model_answers.json``). An answer that
is empty or repeats the prompt is left out (no path to anchor along), and so is a question the evaluator's
contamination check would match to a suite prompt. The full mix's hand-written general
rehearsal stays plain SFT: anchoring it too takes 146 helpful answers out of the refuse-or-answer balance (in
one measured run, look-alikes refused 0.104 against 0.075).

Why (issue #14, ``benchmarks/recipe_quality.py`` on the full suites): safety SFT on the full mix moved the
135M model's everyday facts ("Jupiter is the hottest planet"), and rehearsing hand-written answers did not
stop it; the general suite checks exactly that an adapter still answers what the base answers. Measured
once each (``benchmarks/results/recipe_anchor_cpu.json``): 158 anchors, general 0.891; these 370, 0.938; the
same 370 plus each question again under a request wrapper ("Quick question: ..."), 0.884, with harmful
requests refused less (0.896 against 0.976): the wrapped anchors taught that wrapped requests are answered.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from anchor_content import ANCHOR_QUESTIONS

ANCHOR_SEED = 20261128

Record = dict


def usable(question: str, answer: str) -> bool:
    """An answer to anchor along: not empty and not the question repeated."""
    return bool(answer.strip()) and answer.strip().lower() != question.strip().lower()


def anchor_questions(*more: list[str]) -> list[str]:
    """``ANCHOR_QUESTIONS`` and then the questions of ``more`` not already in, in order."""
    return list(dict.fromkeys([q for _, q in ANCHOR_QUESTIONS] + [q for group in more for q in group]))


def anchor_prompts(questions: list[str], suite_prompts: list[str]) -> list[str]:
    """``questions`` less those the evaluator's contamination check would match to a prompt of ``suite_prompts``
    (its suites)."""
    from eval_service.contamination import CONTAINMENT, OverlapIndex

    prompts = list(questions)
    while near := {m.training_text for m in OverlapIndex(prompts).matches(enumerate(suite_prompts),
                                                                           threshold=CONTAINMENT)}:
        prompts = [p for p in prompts if p not in near]  # a match names one prompt per case: look again
    return prompts


def anchored_mix(full: list[Record], *, prompts: list[str], answers: dict[str, str],
                 pair: Callable[[str, str], Record]) -> list[Record]:
    """``full`` plus one anchor record per prompt of ``prompts`` with a usable base answer, shuffled."""
    records = list(full)
    records += [dict(pair(p, answers[p]), anchor=True) for p in prompts if usable(p, answers[p])]
    random.Random(ANCHOR_SEED).shuffle(records)
    return records


DEMO_ANCHORS = 120
DEMO_ANCHOR_SEED = 3


def demo_anchored_mix(mix: list[Record], anchored: list[Record]) -> list[Record]:
    """The demo's v1 data (``task_safety_mix_anchored_demo_train.jsonl``): the demo's mix plus ``DEMO_ANCHORS``
    anchor records drawn from ``anchored`` (the anchored full mix), shuffled.

    Why: the demo gates v1 with the default policy, so its few CPU minutes of training must buy harmful
    refusals without losing everyday facts. 120 anchors add 15 steps to the mix's 94. Measured once on the
    full suites (CPU, the opening-weighted settings at lr 2e-3, served on int4): general 0.946 against 0.853
    for the same settings without anchors; served on nf4 as the demo serves it: task 0.995, harmful refused
    0.896, benign refused 0.094, general 0.922 (``benchmarks/results/recipe_anchor_cpu.json``).
    """
    rng = random.Random(DEMO_ANCHOR_SEED)
    records = list(mix) + rng.sample([r for r in anchored if r.get("anchor")], DEMO_ANCHORS)
    rng.shuffle(records)
    return records


DEMO_CONTRAST_LOOKALIKES = 120
DEMO_CONTRAST_HARMFUL = 40
DEMO_CONTRAST_SEED = 5


def demo_contrast_mix(demo_anchored: list[Record], mix: list[Record], full: list[Record]) -> list[Record]:
    """The demo-sized contrast variant (``task_safety_mix_anchored_demo_contrast_train.jsonl``): the demo's v1
    data followed by ``DEMO_CONTRAST_LOOKALIKES`` look-alikes (answers starting "Sure") and then
    ``DEMO_CONTRAST_HARMFUL`` refusals (answers starting "I can") drawn, in that order and with one
    ``random.Random(DEMO_CONTRAST_SEED)``, from the full mix's records that the demo's mix does not hold.
    Not shuffled: the trainer shuffles by its seed.

    Why: more look-alikes than refusals pull a demo-sized run away from refusing harmless requests (look-alikes
    refused 0.009 against the demo data's 0.160 at rank 8, with harmful refused 0.832 against 0.928). With a
    stronger anchor term (``anchor_weight`` 2) and its update extrapolated ×1.4 (``recipe_quality.py
    --eval-scales``) one run came closest to issue #14's four targets so far and another seed far from them
    (README, "Training recipes"; ``benchmarks/results/recipe_extrapolate_cpu.json``).
    """
    held = {json.dumps(r, sort_keys=True) for r in mix}
    new = [r for r in full if json.dumps(r, sort_keys=True) not in held]
    rng = random.Random(DEMO_CONTRAST_SEED)
    lookalikes = rng.sample([r for r in new if r["messages"][-1]["content"].startswith("Sure")],
                            DEMO_CONTRAST_LOOKALIKES)
    harmful = rng.sample([r for r in new if r["messages"][-1]["content"].startswith("I can")], DEMO_CONTRAST_HARMFUL)
    return list(demo_anchored) + lookalikes + harmful
