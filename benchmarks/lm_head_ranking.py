"""The rescored LM head's ranking, int8 (the project's VNNI kernel, fbgemm) against int4: is the fp32 argmax among
the candidates, at what cost?

    python benchmarks/lm_head_ranking.py [--out benchmarks/results/lm_head_ranking.json]

``lm_head.RescoredHead`` ranks SmolLM2's 49,152-token vocabulary with a quantized head and scores its
``CANDIDATES`` (64) best exactly in fp32; the greedy token is the fp32 head's only if its argmax is among
them. Quality: the real model (fp32, transformers) answers 110 suite prompts (50 general, 30
over-refusal, 30 safety; chat template) with 48 greedy tokens; at every teacher-forced position of
those answers, the final hidden state is ranked by each ranking (``VnniRanking``, ``Int8Ranking``,
``Int4Ranking``) and the 0-based rank of the fp32 argmax is recorded (0: the ranking's own top token is the fp32
one). Also checked: a row's rough logits alone equal its rough logits in a batch of 16 (bit for bit).
Speed: each ranking's ``candidates`` (rough logits, the ``CANDIDATES`` best ids and their exact fp32 scores:
all the head does for a greedy token) at 1 / 4 / 16 / 32 rows, on one fresh thread with the server's OpenMP
settings, the median of 25 calls after 5, in ms; the VNNI kernel selects and scores inside its call, the others
with ``torch.topk`` and a gathered matmul. The weights are warm in the cache here; in a decode step they come from
memory.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_cli import median_ms, run_measurement  # noqa: E402
from bench_model import embedded_model_dir, suite_answers  # noqa: E402

SUITES = (("general.yaml", 50), ("over_refusal.yaml", 30), ("safety.yaml", 30))
ANSWER_TOKENS = 48


def hidden_states():
    """The final (normed) hidden states at every answer position, and the fp32 head's weight."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = embedded_model_dir()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    answers = suite_answers(model, tok, SUITES, ANSWER_TOKENS)
    with torch.inference_mode():
        states = [model(full, output_hidden_states=True).hidden_states[-1][0, n - 1:-1] for n, full in answers]
        weight = model.get_output_embeddings().weight.detach().float().contiguous()
    return torch.cat(states), weight, len(answers)


def measure() -> dict:
    import torch

    from inference_service.model.lm_head import CANDIDATES, Int4Ranking, Int8Ranking, VnniRanking

    hidden, weight, prompts = hidden_states()
    out: dict = {"threads": torch.get_num_threads(), "torch": torch.__version__, "prompts": prompts,
                 "positions": hidden.shape[0], "rankings": {}}
    with torch.inference_mode():
        top = (hidden @ weight.t()).argmax(dim=-1)
        kernel = VnniRanking.load(torch.device("cpu"))
        makers = ((("int8_vnni", lambda w: VnniRanking(w, kernel)),) if kernel is not None else ()) + (
            ("int8", Int8Ranking), ("int4", Int4Ranking))
        for name, make in makers:
            ranking = make(weight)
            rough = ranking.rough(hidden).float()
            rank = (rough > rough.gather(1, top[:, None])).sum(dim=1)
            alone = torch.cat([ranking.rough(hidden[i:i + 1]) for i in range(16)])
            speed = {}
            for rows in (1, 4, 16, 32):
                x = hidden[:rows].clone()
                speed[rows] = median_ms(lambda _, x=x, r=ranking: r.candidates(x, CANDIDATES, weight), 30, 5, digits=3)
            out["rankings"][name] = {
                "max_rank_of_fp32_argmax": int(rank.max()),
                "share_ranked_first": round(float((rank == 0).float().mean()), 4),
                "positions_ranked_8th_or_lower": int((rank >= 7).sum()),
                "row_alone_equals_row_in_batch_of_16": bool(torch.equal(alone, ranking.rough(hidden[:16]))),
                "ms_by_rows": speed, "bytes": ranking.nbytes}
    return out


def main() -> None:
    run_measurement(measure, __doc__, ROOT / "benchmarks" / "results" / "lm_head_ranking.json")


if __name__ == "__main__":
    main()
