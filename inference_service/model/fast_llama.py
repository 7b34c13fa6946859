"""A lean Llama forward for serving: fused weights, a preallocated KV cache, SDPA, the LoRA bank fused in.

transformers' generic forward costs ~25 ms of Python and op dispatch per decode step of the 30-layer
SmolLM2 (masks rebuilt per step, rotary embeddings per layer, ``DynamicCache`` concatenation, one
LoRA bank call per projection). This forward issues ~14 ops per layer for a decode step:

* q|k|v and gate|up are one matmul each (``quant.fuse``), and their LoRA deltas go through
  ``fused_lora.FusedLoRA``: one ``A`` matmul for all parts (ranks stacked), ``B`` per part;
* the rotary embedding of q and k is one ``bmm`` by a per-row 64x64 rotation built once per step;
* the new key and value go into the cache in place (``kv_cache``: one ``index_put_`` each);
* grouped-query attention runs as ``kv_heads`` groups of ``heads / kv_heads`` query rows against the
  un-expanded cache (no ``repeat_kv`` copy): 0.35 ms against 1.9 ms for ``enable_gqa`` at 16 rows of
  128 tokens in bf16 on the test machine.

Prefill takes *pieces*: spans of prompts (whole prompts, or chunks of a long one) concatenated into
one ``[T, hidden]`` matrix, so their matmuls run as one GEMM without padding; attention runs per piece
against that row's cache with a causal mask offset by what is already cached, so a chunk attends to
its prefix and the work is the causal triangle, not a padded square. LoRA in prefill is one
``addmm`` pair per part of each distinct adapter, over that adapter's contiguous tokens.

Precision: on a CPU the residual stream, norms, rotary embeddings, attention, the KV cache and the
LoRA deltas are float32, and only the base matmuls take their format's input (bf16 for int4). The
small ops are faster that way on the test machine: a bf16 ``[1,576]x[576,48]`` LoRA matmul pair costs
40 µs against 8.5 µs in fp32 (oneDNN's bf16 path has a fixed cost), the CPU flash attention runs
bf16 slower than fp32 (0.34 vs 0.26 ms at 16 rows of 128 tokens), and an fp32 RMSNorm plus a cast
costs what a bf16 one does (13 µs). On CUDA everything runs in the compute dtype.

Supported: Llama-architecture models (``LlamaForCausalLM`` and look-alikes such as Mistral and Qwen2:
RMSNorm, SiLU-gated MLP, rotary embeddings with a static frequency table).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import torch
import torch.nn.functional as F

from inference_service.model.cpu_kernels import DECODE_OPS
from inference_service.model.fused_lora import FusedLoRA
from inference_service.model.kv_cache import KVCache
from inference_service.model.lm_head import DenseHead, RescoredHead
from inference_service.model.lora_bank import BankBatch, LoRABankLinear
from inference_service.model.quant import WeightSlice, fuse, int4_input_dtype
from lorafleet.errors import FailedPrecondition

_STATIC_ROPE = ("default", "linear", "llama3", "yarn")


@dataclass
class Piece:
    """``tokens`` of the sequence in cache ``row``, at positions ``start .. start+len-1``; ``slot``: its adapter."""

    row: int
    start: int
    tokens: list[int]
    slot: int


@dataclass
class _Layer:
    ln1: torch.Tensor
    ln2: torch.Tensor
    qkv: object
    o: object
    gate_up: object
    down: object
    lora: tuple[FusedLoRA, FusedLoRA, FusedLoRA, FusedLoRA]


def check_supported(model: torch.nn.Module) -> None:
    cfg = model.config
    rope = (getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}).get("rope_type",
                                                                                                    "default")
    layer = getattr(getattr(model, "model", None), "layers", [None])[0]
    ok = (layer is not None and hasattr(layer, "self_attn") and hasattr(layer.mlp, "gate_proj")
          and getattr(cfg, "hidden_act", "silu") == "silu" and rope in _STATIC_ROPE)
    if not ok:
        raise FailedPrecondition(f"the serving engine runs Llama-architecture models (RMSNorm, SiLU MLP, rotary "
                                 f"embeddings of type {', '.join(_STATIC_ROPE)}); {type(model).__name__} with "
                                 f"rope {rope!r} is not one", field="base_model")


class FastLlama:
    def __init__(self, model: torch.nn.Module, bank_layers: dict[str, LoRABankLinear], bank: BankBatch, *,
                 fmt: str, dtype: torch.dtype, device: torch.device, lora_kernel: ModuleType | None = None,
                 lora_operand_dtype: torch.dtype | None = None) -> None:
        check_supported(model)
        self._lora_decode = {"kernel": lora_kernel, "operand_dtype": lora_operand_dtype}
        cfg = model.config
        self.device = device
        self.mm_dtype = int4_input_dtype(device) if fmt == "int4" else dtype  # what the base matmuls take
        self.dtype = torch.float32 if device.type == "cpu" else dtype       # everything else (see above)
        self.heads, self.kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads
        self.hidden, self.eps = cfg.hidden_size, cfg.rms_norm_eps
        self.qk_dim = (self.heads + self.kv_heads) * self.head_dim
        rotary = model.model.rotary_emb
        self.inv_freq = rotary.inv_freq.detach().float().to(device)
        self.rope_scale = float(getattr(rotary, "attention_scaling", 1.0))
        self.layers = [self._layer(i, block, bank_layers, bank, fmt) for i, block in enumerate(model.model.layers)]
        self.norm = model.model.norm.weight.detach().to(device, dtype).clone()
        # the fused decode ops (kernels/decode_ops.cpp) on a CPU, where everything but the matmuls is fp32
        self._ops = DECODE_OPS.load() if device.type == "cpu" and self.dtype == torch.float32 else None
        self._norm32 = self.norm.float()
        self.embed = model.model.embed_tokens.weight.detach().float().to(device).clone()  # anonymous memory
        tied = model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
        head = self.embed if tied else model.lm_head.weight.detach().float().to(device)
        # a quantized base on a CPU ranks with the int4 head and rescores in fp32 (lm_head.py); "none" is the reference
        rescored = fmt == "int4" or (fmt == "module" and device.type == "cpu")
        self.head = RescoredHead(head) if rescored else DenseHead(head, dtype=self.dtype)
        self.vocab_size = head.shape[0]
        self.bank = bank

    def _layer(self, i: int, block, bank_layers: dict[str, LoRABankLinear], bank: BankBatch, fmt: str) -> _Layer:
        attn, mlp = f"model.layers.{i}.self_attn.", f"model.layers.{i}.mlp."
        groups = ([attn + "q_proj", attn + "k_proj", attn + "v_proj"], [attn + "o_proj"],
                  [mlp + "gate_proj", mlp + "up_proj"], [mlp + "down_proj"])
        weights, loras = [], []
        for names in groups:
            banks = [bank_layers[n] for n in names]
            fused = fuse([b.base for b in banks], fmt=fmt, dtype=self.mm_dtype, device=self.device)
            if fmt != "module":  # the bank layers keep working on views of the fused weight
                start = 0
                for b in banks:
                    b.base = WeightSlice(fused, slice(start, start + b.out_features), self.mm_dtype)
                    start += b.out_features
            weights.append(fused)
            loras.append(FusedLoRA(banks, bank, **self._lora_decode))
        ln1 = block.input_layernorm.weight.detach().to(self.device, self.dtype).clone()
        ln2 = block.post_attention_layernorm.weight.detach().to(self.device, self.dtype).clone()
        return _Layer(ln1, ln2, *weights, lora=tuple(loras))

    @property
    def weight_bytes(self) -> int:
        body = sum(w.nbytes for layer in self.layers for w in (layer.qkv, layer.o, layer.gate_up, layer.down))
        return body + self.head.nbytes + self.embed.numel() * 4

    def new_cache(self, rows: int) -> KVCache:
        return KVCache(layers=len(self.layers), kv_heads=self.kv_heads, head_dim=self.head_dim, rows=rows,
                       dtype=self.dtype, device=self.device)

    # -- rotary embeddings ---------------------------------------------------------------------
    def _cos_sin(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = positions.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos() * self.rope_scale, emb.sin() * self.rope_scale

    def _rotation(self, positions: torch.Tensor) -> torch.Tensor:
        """``[B, d, d]`` with ``x @ R[b] == x*cos + rotate_half(x)*sin`` at each row's position."""
        cos, sin = self._cos_sin(positions)
        d, half = self.head_dim, self.head_dim // 2
        rot = torch.diag_embed(cos)
        idx = torch.arange(half, device=self.device)
        rot[:, idx + half, idx] = -sin[:, :half]  # out[j] gets -x[j+half]·sin[j]
        rot[:, idx, idx + half] = sin[:, half:]   # out[j+half] gets x[j]·sin[j+half]
        return rot.to(self.dtype).view(-1, d, d)

    # -- decode --------------------------------------------------------------------------------
    def decode(self, tokens: torch.Tensor, lengths: list[int], slots: tuple[int, ...], cache: KVCache) -> torch.Tensor:
        """One token for each of the batch's rows ``0..B-1``; returns their final hidden states ``[B, D]``."""
        if self._ops is not None:
            return self._decode_fused(tokens, lengths, slots, cache)
        b, width = len(lengths), max(lengths) + 1
        pos = torch.tensor(lengths, device=self.device)
        rows = torch.arange(b, device=self.device)
        rot = self._rotation(pos)
        mask = _additive((torch.arange(width, device=self.device)[None, :] <= pos[:, None]).view(b, 1, 1, width),
                         self.dtype)
        h = F.embedding(tokens, self.embed).to(self.dtype)
        lora = slots if any(slots) else None
        heads, kvh, d = self.heads, self.kv_heads, self.head_dim
        for i, layer in enumerate(self.layers):
            x = F.rms_norm(h, (self.hidden,), layer.ln1, self.eps)
            qkv = self._proj(layer.qkv, layer.lora[0], x, lora)
            qk = torch.bmm(qkv[:, :self.qk_dim].view(b, heads + kvh, d), rot)
            kc, vc = cache.k[i], cache.v[i]
            kc[rows, :, pos] = qk[:, heads:]
            vc[rows, :, pos] = qkv[:, self.qk_dim:].view(b, kvh, d)
            q = qk[:, :heads].reshape(b, kvh, heads // kvh, d)
            att = F.scaled_dot_product_attention(q, kc[:b, :, :width], vc[:b, :, :width], attn_mask=mask)
            h = h + self._proj(layer.o, layer.lora[1], att.reshape(b, heads * d), lora)
            x = F.rms_norm(h, (self.hidden,), layer.ln2, self.eps)
            gu = self._proj(layer.gate_up, layer.lora[2], x, lora)
            inner = gu.shape[-1] // 2
            h = h + self._proj(layer.down, layer.lora[3], F.silu(gu[:, :inner]) * gu[:, inner:], lora)
        return F.rms_norm(h, (self.hidden,), self.norm, self.eps)

    def _decode_fused(self, tokens: torch.Tensor, lengths: list[int], slots: tuple[int, ...],
                      cache: KVCache) -> torch.Tensor:
        """``decode`` with the fused CPU ops: the same fp32 arithmetic as the torch path in 4 calls per layer
        besides the matmuls (the norms with their residual adds, and rotary + cache write + attention in one),
        where the torch path issues ~25 small ops of 5-25 µs each (``benchmarks/decode_profile.py``)."""
        ops, lora = self._ops, (slots if any(slots) else None)
        pos = torch.tensor(lengths, device=self.device)
        cos, sin = self._cos_sin(pos)
        h = F.embedding(tokens, self.embed)
        x = ops.rms_norm(h, self.layers[0].ln1, self.eps)
        for i, layer in enumerate(self.layers):
            qkv = self._proj(layer.qkv, layer.lora[0], x, lora).contiguous()
            att = ops.attention(qkv, cos, sin, cache.k[i], cache.v[i], pos, self.heads, self.kv_heads)
            x = ops.add_rms_norm_(h, self._proj(layer.o, layer.lora[1], att, lora).contiguous(), layer.ln2, self.eps)
            gu = self._proj(layer.gate_up, layer.lora[2], x, lora)
            inner = gu.shape[-1] // 2
            down = self._proj(layer.down, layer.lora[3], F.silu(gu[:, :inner]) * gu[:, inner:], lora).contiguous()
            after = self.layers[i + 1].ln1 if i + 1 < len(self.layers) else self._norm32
            x = ops.add_rms_norm_(h, down, after, self.eps)
        return x

    def _proj(self, weight, lora: FusedLoRA, x: torch.Tensor, slots: tuple[int, ...] | None) -> torch.Tensor:
        """Base matmul in its format's dtype, result and LoRA delta in the activation dtype."""
        y = weight.mm(x if x.dtype == self.mm_dtype else x.to(self.mm_dtype))
        if y.dtype != self.dtype:
            y = y.to(self.dtype)
        return y if slots is None else lora.decode(x, y, slots)

    # -- prefill -------------------------------------------------------------------------------
    def prefill(self, pieces: list[Piece], cache: KVCache) -> torch.Tensor:
        """Run ``pieces`` (their KV goes into their rows); returns each piece's last hidden state ``[n, D]``."""
        plan = _PrefillPlan(self, pieces)
        h = F.embedding(plan.ids, self.embed).to(self.dtype)
        for i, layer in enumerate(self.layers):
            h = self._prefill_layer(i, layer, h, plan, cache)
        out = torch.empty(len(pieces), self.hidden, dtype=self.dtype, device=self.device)
        out[plan.order] = F.rms_norm(h.index_select(0, plan.last), (self.hidden,), self.norm, self.eps)
        return out

    def _prefill_attention(self, i: int, qk: torch.Tensor, v: torch.Tensor, plan: _PrefillPlan,
                           cache: KVCache) -> torch.Tensor:
        """Write the pieces' keys and values into their rows, then attend: pieces that start a prompt
        in one call over the packed tokens (a block-diagonal causal mask), continued prompts each
        against its row's cache."""
        heads, kvh, d, group = self.heads, self.kv_heads, self.head_dim, self.heads // self.kv_heads
        t = qk.shape[0]
        k = qk[:, heads:]
        cache.k[i][plan.rows, :, plan.positions] = k
        cache.v[i][plan.rows, :, plan.positions] = v
        att = torch.empty(t, heads * d, dtype=qk.dtype, device=qk.device)
        if plan.fresh_mask is not None:
            q = qk[:, :heads].reshape(t, kvh, group, d).permute(1, 2, 0, 3).reshape(kvh, group * t, d)
            o = _attend(q, k.transpose(0, 1), v.transpose(0, 1), plan.fresh_mask)
            att.copy_(o.view(kvh, group, t, d).permute(2, 0, 1, 3).reshape(t, heads * d))
        for s, e, p, mask in plan.continued:
            n, end = e - s, p.start + e - s
            q = qk[s:e, :heads].reshape(n, kvh, group, d).permute(1, 2, 0, 3).reshape(kvh, group * n, d)
            o = _attend(q, cache.k[i, p.row, :, :end], cache.v[i, p.row, :, :end], mask)
            att[s:e] = o.view(kvh, group, n, d).permute(2, 0, 1, 3).reshape(n, heads * d)
        return att

    def _prefill_layer(self, i: int, layer: _Layer, h: torch.Tensor, plan: _PrefillPlan,
                       cache: KVCache) -> torch.Tensor:
        heads, kvh, d = self.heads, self.kv_heads, self.head_dim
        segments = plan.segments
        x = F.rms_norm(h, (self.hidden,), layer.ln1, self.eps)
        qkv = layer.lora[0].segments(x, self._proj(layer.qkv, layer.lora[0], x, None), segments)
        qk = qkv[:, :self.qk_dim].view(-1, heads + kvh, d)
        half = d // 2
        qk = qk * plan.cos + torch.cat((-qk[..., half:], qk[..., :half]), dim=-1) * plan.sin
        att = self._prefill_attention(i, qk, qkv[:, self.qk_dim:].view(-1, kvh, d), plan, cache)
        h = h + layer.lora[1].segments(att, self._proj(layer.o, layer.lora[1], att, None), segments)
        x = F.rms_norm(h, (self.hidden,), layer.ln2, self.eps)
        gu = layer.lora[2].segments(x, self._proj(layer.gate_up, layer.lora[2], x, None), segments)
        inner = gu.shape[-1] // 2
        a = F.silu(gu[:, :inner]) * gu[:, inner:]
        return h + layer.lora[3].segments(a, self._proj(layer.down, layer.lora[3], a, None), segments)


class _PrefillPlan:
    """The packed layout of one prefill call, shared by all layers.

    Pieces are ordered by adapter slot, so each adapter's tokens are one contiguous ``segment``.
    ``rows``/``positions`` place every packed token in the cache (one ``index_put_`` per layer).
    ``fresh_mask`` lets a token of a piece that starts its prompt see the earlier tokens of the same
    piece (for the other tokens, only themselves: their output is recomputed per piece from the cache).
    """

    def __init__(self, model: FastLlama, pieces: list[Piece]) -> None:
        dev, group = model.device, model.heads // model.kv_heads
        order = sorted(range(len(pieces)), key=lambda j: pieces[j].slot)
        self.order = torch.tensor(order, device=dev)
        self.segments: list[tuple[int, int, int]] = []
        spans, at = [], 0
        for j in order:
            p = pieces[j]
            spans.append((at, at + len(p.tokens), p))
            if p.slot and self.segments and self.segments[-1][0] == p.slot and self.segments[-1][2] == at:
                self.segments[-1] = (p.slot, self.segments[-1][1], at + len(p.tokens))
            elif p.slot:
                self.segments.append((p.slot, at, at + len(p.tokens)))
            at += len(p.tokens)
        self.ids = torch.tensor([t for _, _, p in spans for t in p.tokens], device=dev)
        self.positions = torch.cat([torch.arange(p.start, p.start + len(p.tokens), device=dev) for _, _, p in spans])
        self.rows = torch.cat([torch.full((len(p.tokens),), p.row, device=dev) for _, _, p in spans])
        cos, sin = model._cos_sin(self.positions)
        self.cos, self.sin = cos.to(model.dtype)[:, None, :], sin.to(model.dtype)[:, None, :]
        self.last = torch.tensor([e - 1 for _, e, _ in spans], device=dev)
        self.continued = [(s, e, p, _additive(_causal_mask(p, group, dev), model.dtype)) for s, e, p in spans
                          if p.start]
        self.fresh_mask = None
        if len(self.continued) < len(spans):
            piece_of = torch.cat([torch.full((e - s,), k, device=dev) for k, (s, e, _) in enumerate(spans)])
            index = torch.arange(at, device=dev)
            allowed = (piece_of[:, None] == piece_of[None, :]) & (index[None, :] <= index[:, None])
            for s, e, _, _ in self.continued:
                allowed[s:e] = torch.eye(at, dtype=torch.bool, device=dev)[s:e]
            self.fresh_mask = _additive(allowed.repeat(group, 1), model.dtype)


def _additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """0 where allowed, -inf elsewhere: SDPA converts a boolean mask to this on every call (30 layers)."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill_(~allowed, float("-inf"))


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """SDPA over ``[kv_heads, L, d]`` queries and ``[kv_heads, S, d]`` keys/values with an ``[L, S]`` mask.

    Called with a leading batch axis of 1: torch picks its fused (flash) CPU kernel only for 4-D
    inputs. The 3-D call fell back to the math path, which materialises the scores and their softmax:
    a 4,000-token prompt in 512-token chunks takes 17.0 s on it against 8.3 s
    (``benchmarks/decode_profile.py``).
    """
    return F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=mask[None, None])[0]


def _causal_mask(p: Piece, group: int, device: torch.device) -> torch.Tensor:
    """``[group·n, start+n]``: query ``i`` of every head group sees positions ``<= start + i``."""
    n = len(p.tokens)
    cols = torch.arange(p.start + n, device=device)
    allowed = cols[None, :] <= (p.start + torch.arange(n, device=device))[:, None]
    return allowed.repeat(group, 1)
