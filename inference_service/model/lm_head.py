"""The LM head: hidden state -> next-token logits, the largest single matmul of a decode step.

SmolLM2's head is tied to its 49152 x 576 embedding: 113 MB in fp32, read in full for every token.
On the 2-core test machine one row costs 14 ms in fp32, 10.7 ms in bf16, 4.0 ms as int8 and 1.6 ms as
group-32 int4 (``benchmarks/decode_formats.py``), against ~7 ms for all 30 layers in int4. But int4
loses the embedding's precision (it is not a Q4 tensor in the GGUF): alone it flips the teacher-forced
top-1 token 12% of the time (KL 0.042 to the fp32 head).

``RescoredHead`` keeps both speed and the fp32 result: the int4 head ranks the vocabulary, then the
``CANDIDATES`` best-ranked tokens are scored exactly (fp32 rows of the embedding, a ``[n, 64, 576]``
product) and the greedy token is the best exact score. On the real model the fp32 argmax ranked at
most 6th under int4 in every one of 693 teacher-forced positions (int4 alone picked another token at
11.7% of them), so 64 candidates leave a wide margin: the greedy token is the fp32 head's argmax.
Sampled rows get the exact logits of the candidates and the int4 logits of the far tail (whose
probability mass is negligible after top-k/top-p).

It serves every quantized base on a CPU: int4, and nf4/int8, whose bitsandbytes modules leave the head
(the tied embedding) in fp32. On nf4 (the demo's base) the fp32 head took 9.9 ms of a 30 ms one-row
token (``benchmarks/decode_profile.py --quantization nf4``).

``DenseHead`` is the plain product in the compute dtype (``quantization=none``: the reference itself;
and on CUDA).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from inference_service.model.quant import Int4Weight

CANDIDATES = 64


class DenseHead:
    def __init__(self, weight: torch.Tensor, *, dtype: torch.dtype) -> None:
        self.weight = weight if weight.dtype == dtype else weight.to(dtype)

    @property
    def nbytes(self) -> int:
        return self.weight.numel() * self.weight.element_size()

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[n, D]`` -> float32 ``[n, V]``."""
        return F.linear(hidden.to(self.weight.dtype), self.weight).float()

    def greedy(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.logits(hidden).argmax(dim=-1)


class RescoredHead:
    """int4 ranking + exact fp32 scores of the ``CANDIDATES`` best tokens (see the module docstring)."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.exact = weight.float().contiguous()  # shared with the embedding lookup
        self.approx = Int4Weight(self.exact, device=weight.device)

    @property
    def nbytes(self) -> int:
        return self.approx.nbytes  # the exact rows are the embedding table, counted there

    def _candidates(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rough = self.approx.mm(hidden.to(torch.bfloat16))
        k = min(CANDIDATES, rough.shape[-1])
        ids = rough.topk(k, dim=-1).indices                               # [n, k]
        rows = self.exact.index_select(0, ids.reshape(-1)).view(*ids.shape, -1)  # [n, k, D]
        exact = torch.bmm(rows, hidden.float().unsqueeze(-1)).squeeze(-1)       # [n, k]
        return rough, ids, exact

    def greedy(self, hidden: torch.Tensor) -> torch.Tensor:
        _, ids, exact = self._candidates(hidden)
        return ids.gather(1, exact.argmax(dim=-1, keepdim=True)).squeeze(1)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        rough, ids, exact = self._candidates(hidden)
        return rough.float().scatter_(1, ids, exact)
