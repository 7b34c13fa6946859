"""The LM head: hidden state -> next-token logits, the largest single matmul of a decode step.

SmolLM2's head is tied to its 49152 x 576 embedding: 113 MB in fp32, read in full for every token.
On the 2-core test machine one row costs 14 ms in fp32, 10.7 ms in bf16, 4.0 ms as weight-only int8 and 1.6 ms
as group-32 int4 (``benchmarks/decode_formats.py``, one thread), against ~7 ms for all 30 layers in int4. But int4
loses the embedding's precision (it is not a Q4 tensor in the GGUF): alone it flips the teacher-forced
top-1 token 12% of the time (KL 0.042 to the fp32 head).

``RescoredHead`` keeps both speed and the fp32 result: a quantized head ranks the vocabulary, then the
``CANDIDATES`` best-ranked tokens are scored exactly (fp32 rows of the embedding, a ``[n, 64, 576]``
product) and the greedy token is the best exact score. Sampled rows get the exact logits of the
candidates and the rough logits of the far tail (whose probability mass is negligible after top-k/top-p).

The ranking (``Int8Ranking``): int8 weights with one scale per vocabulary row, times each hidden
state quantized to 8 bits on its own scale, by fbgemm's dynamic linear kernel (``quantized.linear_dynamic``).
Per row: ``x̂ = x / max|x|`` in [-1, 1], then ``rough = max|x| · (x̂ @ Ŵᵀ)``. The kernel takes one
activation scale for its whole input (from the input's min and max), so a guard row holding exactly
+1 and -1 is appended: every call then quantizes with the same scale, a row's rough logits do not
depend on the rows batched with it (checked bit for bit), and int8 x int8 products summed in int32
are exact in any order. Measured on the real model over 4,308 teacher-forced positions (110 suite
prompts, 48 greedy tokens each; ``benchmarks/lm_head_ranking.py``): the fp32 argmax ranked at most
8th under int8 ranking (int4: at most 7th) and first at 94% of them (int4: 89%), so 64 candidates
leave a wide margin and the greedy token is the fp32 head's argmax. It is also the faster kernel at
every batch size: 0.5 against 0.8 ms at one row, 1.8 against 5.6 ms at 16 (same script, two threads): the int4
kernel de-quantizes in its inner loop, so its cost grows with rows, while the int8 head streams
its 28 MB once (the int4 ranking held 74 MB with its bf16 copy). Where torch has no fbgemm/x86 quantized engine,
or its quantized tensors are gone, the ranking stays int4 (``Int4Ranking``).

Where the CPU has AVX512-VNNI (Intel since Cascade Lake, AMD since Zen 4), the same numerics run on the project's
own kernel (``VnniRanking``, ``kernels/int8_head.cpp``): the hidden state rounded to 8 bits on its own scale as above
(symmetric, ``round(127·x/max|x|)``, where fbgemm's guard row gives steps of 2/255), products summed exactly in
int32, 64 per ``vpdpbusd``. It also takes the maximum of each block of 16 vocabulary rows, and the ``k`` best
rough logits of a row lie in its ``k`` best blocks (a block holding one of them has a maximum at least the
``k``-th best value, and at most ``k`` blocks can), so the kernel selects the candidates among 3,072 block
maxima and then the 1,024 logits of the best blocks instead of a ``topk`` over 49,152, and scores the 64
exactly in the same call (each dot product in float64, rounded once to fp32; the scattered table rows prefetched
ahead). Its weights are prefetched ahead of the multiply too: in a decode step the head's 28 MB come from memory
(the body's weights have just passed through the cache); with the caches flushed that way, ranking and selection
at 16 rows took 2.31 ms without the prefetch and 1.87 ms with it (ad hoc). With the exact scores, 2.14 ms against
3.66 for fbgemm, ``topk`` and the gathered matmul, and 0.96 against 1.76 ms at one row. It keeps the head off
torch's quantized tensors, which torch 2.13 announces it will remove.

It serves every quantized base on a CPU: int4, and nf4/int8, whose bitsandbytes modules leave the head
(the tied embedding) in fp32. On nf4 (the demo's base) the fp32 head took 9.9 ms of a 30 ms one-row
token (``benchmarks/decode_profile.py --quantization nf4``).

``DenseHead`` is the plain product in the compute dtype (``quantization=none``: the reference itself;
and on CUDA).
"""

from __future__ import annotations

import logging
import warnings

import torch
import torch.nn.functional as F

from inference_service.model.cpu_kernels import INT8_HEAD
from inference_service.model.quant import Int4Weight

CANDIDATES = 64
log = logging.getLogger(__name__)


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


def int8_row_scales(weight: torch.Tensor) -> torch.Tensor:
    """One int8 scale per vocabulary row, ``max|w_v| / 127`` (never 0): both int8 rankings quantize with it."""
    return (weight.abs().amax(dim=1) / 127).clamp_min(torch.finfo(torch.float32).tiny)


def top_ids(rough: torch.Tensor, k: int) -> torch.Tensor:
    """The ids of each row's ``k`` best rough logits, best first."""
    return rough.topk(k, dim=-1).indices


class _TorchSelection:
    """``candidates`` for a ranking that only computes rough logits: torch's ``topk``, then the exact rows gathered and
    multiplied (``[n, 1, D] @ [n, D, k]``: 0.04 ms at 16 rows, where the batched gemv ``[n, k, D] @ [n, D, 1]``
    took 0.34)."""

    def rough(self, hidden: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def candidates(self, hidden: torch.Tensor, k: int, table: torch.Tensor | None = None):
        rough = self.rough(hidden)
        ids = top_ids(rough, k)
        if table is None:
            return rough, ids, None
        rows = table.index_select(0, ids.reshape(-1)).view(*ids.shape, -1)  # [n, k, D]
        return rough, ids, torch.matmul(hidden.float().unsqueeze(1), rows.transpose(1, 2)).squeeze(1)


class Int4Ranking(_TorchSelection):
    """Rough logits from the group-32 int4 head (bf16 activations)."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = Int4Weight(weight, device=weight.device)

    @property
    def nbytes(self) -> int:
        return self.weight.nbytes

    def rough(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.weight.mm(hidden.to(torch.bfloat16))


class Int8Ranking(_TorchSelection):
    """Rough logits from int8 weights and per-row 8-bit activations, batch-invariant (module docstring)."""

    def __init__(self, weight: torch.Tensor) -> None:
        w = weight.float()
        scale = int8_row_scales(w)
        zeros = torch.zeros_like(scale, dtype=torch.long)
        with warnings.catch_warnings():
            # torch 2.13 announces the removal of quantized tensors in a future release (pytorch#184982); when
            # they go, construction fails and ``RescoredHead`` ranks in int4 (``_ranking``)
            warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*", category=UserWarning)
            q = torch.quantize_per_channel(w, scale.double(), zeros, 0, torch.qint8)
        self.packed = torch.ops.quantized.linear_prepack(q, None)
        self.guard = torch.zeros(1, w.shape[1])
        self.guard[0, :2] = torch.tensor([1.0, -1.0])
        self._nbytes = w.numel() + 4 * w.shape[0]

    @staticmethod
    def available(device: torch.device) -> bool:
        return device.type == "cpu" and bool({"x86", "fbgemm"} & set(torch.backends.quantized.supported_engines))

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def rough(self, hidden: torch.Tensor) -> torch.Tensor:
        x = hidden.float()
        peak = x.abs().amax(dim=1, keepdim=True).clamp_min(1e-30)
        y = torch.ops.quantized.linear_dynamic(torch.cat((x / peak, self.guard)), self.packed, True)
        return y[:-1].mul_(peak)


class VnniRanking:
    """``Int8Ranking``'s numerics on the project's AVX512-VNNI kernel, with the candidates found through block
    maxima and their exact scores, in the same call (module docstring). The vocabulary is padded to a multiple of 16
    rows and the hidden size to one of 4 with zeros; padded rows read ``-inf`` and padded inputs add nothing. Ties
    rank the smaller id first."""

    BLOCK = 16
    _no_table = torch.empty(0)

    def __init__(self, weight: torch.Tensor, kernel) -> None:
        w = weight.float()
        self.vocab, dim = w.shape
        self.kernel = kernel
        scale = int8_row_scales(w)
        q = torch.round(w / scale[:, None]).clamp_(-127, 127).to(torch.int8)
        self.pad_rows, self.pad_inputs = -self.vocab % self.BLOCK, -dim % 4
        self.packed, self.corr = kernel.pack(F.pad(q, (0, self.pad_inputs, 0, self.pad_rows)))
        self.scale = F.pad(scale, (0, self.pad_rows)).contiguous()

    @staticmethod
    def load(device: torch.device):
        """The kernel module where it serves ``device`` (a CPU with AVX512-VNNI where it builds), else None."""
        return INT8_HEAD.load() if device.type == "cpu" else None

    @property
    def nbytes(self) -> int:
        return self.packed.numel() + 8 * self.scale.numel()

    def candidates(self, hidden: torch.Tensor, k: int, table: torch.Tensor | None = None):
        """(rough logits ``[n, V]``, the ``k`` best ids ``[n, k]`` best first, their exact scores from ``table``
        ``[n, k]`` or None without one), in one kernel call."""
        x = hidden.float()
        if self.pad_inputs:
            x = F.pad(x, (0, self.pad_inputs))
        rough, ids, exact = self.kernel.rough(x.contiguous(), self.packed, self.corr, self.scale, self.vocab, k,
                                              self._no_table if table is None else table)
        return rough[:, :self.vocab], ids, (None if table is None else exact)

    def rough(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.candidates(hidden, 0)[0]


class RescoredHead:
    """Quantized ranking + exact fp32 scores of the ``CANDIDATES`` best tokens (see the module docstring)."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.exact = weight.float().contiguous()  # shared with the embedding lookup
        self.ranking = _ranking(self.exact)

    @property
    def nbytes(self) -> int:
        return self.ranking.nbytes  # the exact rows are the embedding table, counted there

    def _candidates(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.ranking.candidates(hidden, min(CANDIDATES, self.exact.shape[0]), self.exact)

    def greedy(self, hidden: torch.Tensor) -> torch.Tensor:
        _, ids, exact = self._candidates(hidden)
        return ids.gather(1, exact.argmax(dim=-1, keepdim=True)).squeeze(1)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        rough, ids, exact = self._candidates(hidden)
        return rough.float().scatter_(1, ids, exact)


def _ranking(weight: torch.Tensor) -> VnniRanking | Int8Ranking | Int4Ranking:
    """int8 on the project's VNNI kernel, else on torch's fbgemm kernels where they exist and work, else int4
    (logged)."""
    kernel = VnniRanking.load(weight.device)
    if kernel is not None:
        return VnniRanking(weight, kernel)
    if Int8Ranking.available(weight.device):
        try:
            return Int8Ranking(weight)
        except (RuntimeError, AttributeError, NotImplementedError) as exc:
            log.warning("int8 head ranking unavailable, ranking in int4", extra={"error": repr(exc)})
    return Int4Ranking(weight)
