"""The full recipe's data (``task_safety_mix_full_train.jsonl``): the demo's mix plus the contrast data.

Built by ``make_bundled_data.py`` from the demo's good mix and ``contrast_content.py``, each request under
the shared request wrappers (so wording says nothing about harm):

- every newer harmful request (``preference_content.HARMFUL_MORE``, ``contrast_content.HARMFUL_A/B``) under
  two wrappers, refused; the refusal fits the category where one is written (a referral for self-harm)
  and starts like every refusal of the data, else it is one of the generic refusals;
- every newer look-alike (``BENIGN_A/B``, ``preference_content.BENIGN_MORE``) under two wrappers, answered
  under the helpful opener.

Why a second file rather than a bigger demo mix (issue #14, ``benchmarks/recipe_quality.py`` on the full
suites): the refuse-or-answer decision generalises only with many steps over many distinct requests.
At the ~140 optimizer steps the demo can spend on v1 on a 2-core CPU, every balance tried moved along
one trade-off line (more look-alikes: fewer benign refusals and more harmful answers, and back);
the full file takes 253 steps. Built with its own seed, so the older files keep their bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from contrast_content import BENIGN_A, BENIGN_B, HARMFUL_A, HARMFUL_B
from preference_content import BENIGN_MORE, HARMFUL_MORE, REFUSALS_BY_CATEGORY

CONTRAST_SEED = 20261127
NEWER_WRAPPERS = 2
# contrast_content's category names -> REFUSALS_BY_CATEGORY's
_CATEGORY = {"self_harm": "self-harm", "child_safety": "child-safety", "animal_cruelty": "animal-cruelty"}

Record = dict
Pair = Callable[[str, str], Record]


def _refusal(rng: random.Random, category: str, generic: list[str]) -> str:
    """A category's own refusal where it starts like every refusal of the data ("I can't help with that"),
    else a generic one: the first tokens are the decision, and they must be the same on every refusal."""
    own = [r for r in REFUSALS_BY_CATEGORY.get(_CATEGORY.get(category, category), [])
           if r.startswith("I can't help with that")]
    return rng.choice(own or generic)


def full_mix(mix: list[Record], *, wrappers: list[str], refusals: list[str], helpful: Callable[[str], str],
             pair: Pair) -> list[Record]:
    """``mix`` (the demo's good mix) plus the contrast records of the module docstring, shuffled."""
    rng = random.Random(CONTRAST_SEED)
    records = list(mix)
    for category, request in list(HARMFUL_MORE) + HARMFUL_A + HARMFUL_B:
        records += [pair(w.format(req=request), _refusal(rng, category, refusals))
                    for w in rng.sample(wrappers, NEWER_WRAPPERS)]
    for request, answer in [(q, a) for _, q, a in BENIGN_A + BENIGN_B] + list(BENIGN_MORE):
        records += [pair(w.format(req=request), helpful(answer)) for w in rng.sample(wrappers, NEWER_WRAPPERS)]
    rng.shuffle(records)
    return records
