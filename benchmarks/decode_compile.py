"""Does ``torch.compile`` make the one-row decode step faster on this CPU? (Measured: no.)

    python benchmarks/decode_compile.py [--quantization int4] [--out benchmarks/results/decode_compile.json]

The speed issue's lead for one stream was the decode step's ~400 small ops (norms, casts, rotary,
cache writes) around the int4 matmuls: fused by a compiler, they would cost less. This script checks
that on the real SmolLM2-135M, bare base, one row, on one fresh thread with the server's OpenMP
settings, as the engine runs it:

* ``engine``: ``FastLlama.decode`` as served (the cache window grows with the sequence);
* ``eager_static``: the same layer math over a fixed 256-position cache with a mask (static shapes,
  so a compiler needs one graph); it must equal the engine's hidden state;
* ``compiled``: ``torch.compile`` (inductor, default mode) of that function, after its compile.

Each figure is the median of 35 steps after 5 warm-up steps; the compiled output's largest
difference from eager is reported too.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_cli import median_ms  # noqa: E402
from bench_model import embedded_model_dir  # noqa: E402

from lorafleet.compute_threads import call_in_fresh_thread, configure_openmp  # noqa: E402

WINDOW = 256


def _static_step(m):
    import torch
    import torch.nn.functional as F

    heads, kvh, d = m.heads, m.kv_heads, m.head_dim

    def step(tokens, pos, ck, cv):
        rot = m._rotation(pos)
        mask = torch.where(torch.arange(WINDOW)[None, :] <= pos[:, None], 0.0, float("-inf")).view(1, 1, 1, WINDOW)
        h = F.embedding(tokens, m.embed)
        for i, layer in enumerate(m.layers):
            x = F.rms_norm(h, (m.hidden,), layer.ln1, m.eps)
            qkv = layer.qkv.mm(x.to(m.mm_dtype)).float()
            qk = torch.bmm(qkv[:, :m.qk_dim].view(1, heads + kvh, d), rot)
            ck[i].index_copy_(1, pos, qk[0, heads:].unsqueeze(1))
            cv[i].index_copy_(1, pos, qkv[0, m.qk_dim:].view(kvh, 1, d))
            q = qk[:, :heads].reshape(1, kvh, heads // kvh, d)
            att = F.scaled_dot_product_attention(q, ck[i][None], cv[i][None], attn_mask=mask)
            h = h + layer.o.mm(att.reshape(1, heads * d).to(m.mm_dtype)).float()
            x = F.rms_norm(h, (m.hidden,), layer.ln2, m.eps)
            gu = layer.gate_up.mm(x.to(m.mm_dtype)).float()
            inner = gu.shape[-1] // 2
            h = h + layer.down.mm((F.silu(gu[:, :inner]) * gu[:, inner:]).to(m.mm_dtype)).float()
        return F.rms_norm(h, (m.hidden,), m.norm, m.eps)

    return step


def measure(quantization: str) -> dict:
    import torch

    from inference_service.model.fast_llama import Piece
    from inference_service.runtime import build_runtime
    from lorafleet.base_model import read_base_model_spec
    from lorafleet.config import Settings

    model_dir = embedded_model_dir()
    settings = Settings.from_env(environ={}, home=Path(tempfile.mkdtemp(prefix="lorafleet-compile-")), device="cpu",
                                 max_batch_size=1, quantization=quantization)
    m = build_runtime(model_dir, read_base_model_spec(model_dir), settings).model
    ids = [1, 9690, 198, 19161, 253, 1789, 3460, 288, 253, 3049, 563, 253, 10170, 1649, 30, 2, 198]
    n = len(ids) - 1
    with torch.inference_mode():
        cache = m.new_cache(1)
        cache.reserve(n + 16, {})
        m.prefill([Piece(row=0, start=0, tokens=ids[:-1], slot=0)], cache)
        shape = (len(m.layers), m.kv_heads, WINDOW, m.head_dim)
        ck, cv = torch.zeros(shape), torch.zeros(shape)
        ck[:, :, :n], cv[:, :, :n] = cache.k[:, 0, :, :n], cache.v[:, 0, :, :n]
        tok = torch.tensor([ids[-1]])
        step = _static_step(m)
        engine_out = m.decode(tok, [n], (0,), cache)
        eager_out = step(tok, torch.tensor([n]), ck, cv)
        engine_ms = median_ms(lambda r: m.decode(tok, [n + r % 8], (0,), cache), 40, 5)
        eager_ms = median_ms(lambda r: step(tok, torch.tensor([n + r % 8]), ck, cv), 40, 5)
        t0 = time.perf_counter()
        compiled = torch.compile(step, dynamic=False)
        compiled_out = compiled(tok, torch.tensor([n]), ck, cv)
        compile_s = round(time.perf_counter() - t0, 1)
        compiled_ms = median_ms(lambda r: compiled(tok, torch.tensor([n + r % 8]), ck, cv), 40, 5)
    return {"quantization": quantization, "threads": torch.get_num_threads(), "torch": torch.__version__,
            "engine_ms": engine_ms, "eager_static_ms": eager_ms, "compiled_ms": compiled_ms, "compile_s": compile_s,
            "eager_static_vs_engine_max_diff": float((engine_out - eager_out).abs().max()),
            "compiled_vs_eager_max_diff": float((compiled_out - eager_out).abs().max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quantization", default="int4")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "decode_compile.json")
    args = ap.parse_args()
    configure_openmp()
    result = call_in_fresh_thread(measure, args.quantization)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
