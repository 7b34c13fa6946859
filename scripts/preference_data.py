"""The bundled preference data (DPO) and the live-traffic pool, built by ``make_bundled_data.py``.

Four kinds of pairs, each ``{"messages": [...], "chosen": str, "rejected": str, "kind": ...}``:

- harmful: a harmful request (under the same wrappers as the look-alikes) -> chosen: a refusal with a
  safe alternative (a referral or an offer), rejected: the base model's own compliant opening, cut to its
  first clause ("To steal a car from a parking garage, you'll need to be resourceful and strategic."):
  what the adapter must stop saying, and no instructions of any kind (``opening``); a compliant
  "Sure, here is how..." with harmless filler where the base model's opening is not a compliance;
- benign: a look-alike with risky words ("kill a Python process") -> chosen: a helpful answer, rejected:
  a refusal;
- task: a support ticket -> chosen: its correct JSON, rejected: the JSON with a wrong category, or prose,
  or JSON wrapped in prose;
- general: an everyday question -> chosen: the base model's own correct greedy answer
  (``base_model_answers.json``), rejected: a wrong answer.

Every kind is split into training and validation pairs by prompt, so no validation prompt is trained on.
``live_traffic.jsonl`` is a pool of fresh requests for the demo's traffic generator
(``{"kind": "ticket|benign|harmful", "messages": [...]}``), in no training file and in no suite.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable

from preference_content import (
    BENIGN_MORE,
    COMPLIANT_REPLIES,
    GENERAL_PAIRS,
    HARMFUL_MORE,
    LIVE_BENIGN,
    LIVE_HARMFUL,
    REFUSALS_BY_CATEGORY,
)

PREFERENCE_SEED = 20261126  # its own stream: the older files keep their bytes
VALIDATION_EVERY = 8  # every 8th prompt of each kind goes to validation
TASK_PAIRS = 120
LIVE_TICKETS = 60
# categories a ticket is most often mistaken for
CONFUSABLE = {"billing": ("account", "shipping"), "technical": ("account", "billing"),
              "account": ("technical", "billing"), "shipping": ("billing", "technical")}
# categories a small model invents for tickets ("login" for a password reset)
INVENTED = {"billing": ("payment", "invoice", "refund"), "technical": ("bug", "file", "app"),
            "account": ("login", "password", "profile"), "shipping": ("order", "delivery", "tracking")}
TASK_PROSE = [
    "This ticket is about {category}. Priority: {priority}. Summary: {summary}.",
    "I'm sorry to hear about this issue. I would classify it as {category} with {priority} priority.",
    "Here is the JSON you asked for: {json}",
    "Category: {category}\nPriority: {priority}\nSummary: {summary}",
]


def _pair(messages: list[dict], chosen: str, rejected: str, kind: str) -> dict:
    return {"messages": messages, "chosen": chosen, "rejected": rejected, "kind": kind}


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


OPENING_WORDS = 14
_DECLINES = re.compile(r"\b(?:sorry|can't|cannot|can not|unable|won't|not able|as an ai)\b", re.IGNORECASE)


def opening(text: str, finished: bool = False) -> str:
    """The first clause of a greedy answer: up to the first sentence end, line break or colon, or the first comma
    after six words, at most ``OPENING_WORDS`` words; "" when it is a refusal or too short to be an answer."""
    first = re.split(r"(?<=[.!?:])\s|\n", text.strip(), maxsplit=1)[0]
    words = first.split()
    for i, word in enumerate(words[:OPENING_WORDS]):
        if i >= 5 and word.endswith(","):
            words = words[:i + 1]
            break
    clause = " ".join(words[:OPENING_WORDS])
    return "" if len(words) < 4 or _DECLINES.search(clause) else clause


# no base-model text at all for these: the filler stands in
NO_OPENING_CATEGORIES = {"self-harm", "hate", "child-safety"}
_SENSITIVE = re.compile(r"\b(?:life|lives|die|death|dead|suicide|genocide|jew|muslim|child|kid|sex|race|police|authorit)\w*",
                        re.IGNORECASE)


def harmful_pairs(rng: random.Random, requests: list[tuple[str, str]], wrappers: list[str],
                  openings: dict[str, str]) -> list[dict]:
    out = []
    for category, request in requests:
        refusal = rng.choice(REFUSALS_BY_CATEGORY.get(category, REFUSALS_BY_CATEGORY["default"]))
        filler = rng.choice(COMPLIANT_REPLIES)
        own = openings.get(request, "") if category not in NO_OPENING_CATEGORIES else ""
        rejected = own if own and not _SENSITIVE.search(own) else filler
        out.append(_pair(_user(rng.choice(wrappers).format(req=request)), refusal, rejected, "harmful"))
    return out


def benign_pairs(rng: random.Random, answered: list[tuple[str, str]], wrappers: list[str]) -> list[dict]:
    refusals = REFUSALS_BY_CATEGORY["default"]
    return [_pair(_user(rng.choice(wrappers).format(req=q)), a, rng.choice(refusals), "benign") for q, a in answered]


def task_pairs(rng: random.Random, tickets: list[dict], system_prompt: str) -> list[dict]:
    """Correct JSON over one with a wrong category (a confusable or an invented one: 2/3), or over prose or JSON
    wrapped in prose (1/3)."""
    out = []
    for t in tickets:
        expected = t["expected"]
        draw = rng.random()
        if draw < 2 / 3:
            pool = CONFUSABLE if draw < 1 / 3 else INVENTED
            rejected = json.dumps({**expected, "category": rng.choice(pool[expected["category"]])})
        else:
            rejected = rng.choice(TASK_PROSE).format(json=json.dumps(expected), **expected)
        messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": t["user"]}]
        out.append(_pair(messages, json.dumps(expected), rejected, "task"))
    return out


def general_pairs(answers: dict[str, str]) -> list[dict]:
    """Pairs whose chosen answer is the base model's own and contains an expected keyword."""
    out = []
    for question, keywords, wrong in GENERAL_PAIRS:
        own = answers.get(question, "")
        if own and any(k.lower() in own.lower() for k in keywords):
            out.append(_pair(_user(question), own, wrong, "general"))
    return out


def split(pairs: list[dict]) -> tuple[list[dict], list[dict]]:
    """(training, validation): every ``VALIDATION_EVERY``-th pair of the list validates."""
    return ([p for i, p in enumerate(pairs) if i % VALIDATION_EVERY != VALIDATION_EVERY - 1],
            [p for i, p in enumerate(pairs) if i % VALIDATION_EVERY == VALIDATION_EVERY - 1])


def build(*, harmful: list[tuple[str, str]], benign: list[tuple[str, str]], wrappers: list[str], tickets: list[dict],
          system_prompt: str, answers: dict[str, str], openings: dict[str, str]) -> dict[str, list[dict]]:
    """The preference files: {"preference_train.jsonl": [...], "preference_validation.jsonl": [...]}."""
    rng = random.Random(PREFERENCE_SEED)
    kinds = [harmful_pairs(rng, harmful + HARMFUL_MORE, wrappers, openings),
             benign_pairs(rng, benign + BENIGN_MORE, wrappers),
             task_pairs(rng, tickets[:TASK_PAIRS], system_prompt),
             general_pairs(answers)]
    train, validation = [], []
    for pairs in kinds:
        t, v = split(pairs)
        train += t
        validation += v
    rng.shuffle(train)
    rng.shuffle(validation)
    return {"preference_train.jsonl": train, "preference_validation.jsonl": validation}


def live_traffic(make_ticket_records: Callable[[random.Random, int], list[dict]], system_prompt: str,
                 trained: Callable[[str], bool]) -> list[dict]:
    """The demo's live-traffic pool: fresh tickets (``make_ticket_records`` keeps them apart from every other
    ticket, and ``trained`` tells one that a training ticket contains), benign look-alikes and harmful requests."""
    rng = random.Random(PREFERENCE_SEED + 1)
    fresh = [t for t in make_ticket_records(rng, 2 * LIVE_TICKETS) if not trained(t["user"])][:LIVE_TICKETS]
    pool = [{"kind": "ticket", "messages": [{"role": "system", "content": system_prompt},
                                            {"role": "user", "content": t["user"]}]} for t in fresh]
    pool += [{"kind": "benign", "messages": _user(q)} for q in LIVE_BENIGN]
    pool += [{"kind": "harmful", "messages": _user(q)} for q in LIVE_HARMFUL]
    rng.shuffle(pool)
    return pool


def answer_prompts() -> list[str]:
    """Prompts whose base-model answers the data needs (``--generate-answers``)."""
    return [q for q, _, _ in GENERAL_PAIRS]
