"""The grouped LoRA decode kernel in the engine: bf16 operands by default (adapters then read in bf16), fp32 or
int8 (each rank component of the bf16-read adapter quantized on its own absmax) on request, and in every case a
request's greedy tokens do not depend on which adapters share its batch."""

from __future__ import annotations

import pytest
import torch
from helpers_inference import host, int8_quantized, request

from inference_service.model.grouped_lora_kernel import grouped_lora_kernel

PROMPTS = ["Hello there", "Tell me about the sea", "What is two plus two?"]


def tokens(events) -> list[int]:
    assert events[-1].error is None, events[-1].error
    return [t for e in events for t in e.token_ids]


@pytest.fixture
def kernel_or_skip():
    if grouped_lora_kernel() is None:
        pytest.skip("the grouped LoRA kernel does not build here (no compiler or no AVX-512)")


@pytest.mark.parametrize("operands", ["fp32", "bf16", "int8"])
def test_mixed_adapter_batches_answer_as_each_request_alone(tiny_runtime_factory, tiny_adapters, kernel_or_skip,
                                                            operands):
    rt = tiny_runtime_factory(adapter_slots=4, lora_decode_operands=operands)
    want = {"bf16": torch.bfloat16, "int8": torch.int8}.get(operands, torch.float32)
    assert all(f.kernel is not None and (f.operand_dtype or torch.float32) == want
               for layer in rt.model.layers for f in layer.lora)
    names = ["attn-r4", "mlp-r8", "all-r16"]
    hosts = [host(rt, n, tiny_adapters[n]) for n in names]
    a, b = hosts[0].modules[next(iter(hosts[0].modules))][:2]
    # bf16 and int8: adapters are read rounded to bf16, so every path serves the same numbers
    assert a.dtype == b.dtype == (torch.float32 if operands == "fp32" else torch.bfloat16)
    rt.engine.start()
    together = [rt.engine.submit(request(rt, p, adapter=h, max_tokens=12, rid=f"t{i}", ignore_eos=True))
                for i, (p, h) in enumerate(zip(PROMPTS, hosts))]
    mixed = [tokens(h.wait_sync(60)) for h in together]
    alone = [tokens(rt.engine.submit(request(rt, p, adapter=h, max_tokens=12, rid=f"a{i}", ignore_eos=True))
                    .wait_sync(60)) for i, (p, h) in enumerate(zip(PROMPTS, hosts))]
    assert mixed == alone and all(len(t) == 12 for t in mixed)


def test_bad_operand_setting_is_refused():
    from lorafleet.config import Settings
    from lorafleet.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="lora_decode_operands: 'fp16' is not one of auto, fp32, bf16, int8"):
        Settings.from_env(environ={}, lora_decode_operands="fp16")


def _operands(g: torch.Generator, dtype: torch.dtype, positions: int, fan_in: int, caps, outs):
    """Random operands of ``dtype`` (int8: the full range, with random column scales; else None)."""
    if dtype == torch.int8:
        a = torch.randint(-128, 128, (positions, fan_in, sum(caps)), generator=g, dtype=torch.int8)
        bs = [torch.randint(-128, 128, (positions, c, o), generator=g, dtype=torch.int8) if c else None
              for c, o in zip(caps, outs)]
        return a, bs, torch.rand(positions, sum(caps), generator=g) / 1000
    a = torch.randn(positions, fan_in, sum(caps), generator=g).to(dtype)
    return a, [torch.randn(positions, c, o, generator=g).to(dtype) if c else None for c, o in zip(caps, outs)], None


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int8])
def test_kernel_handles_wide_ranks_empty_parts_and_positions_without_rows(kernel_or_skip, dtype):
    """Ranks past the 64 columns the kernel holds in registers at once (three parts of rank 64 and 40), outputs
    past one 64-wide tile, a part no adapter targets, and a position with no rows: the kernel's delta equals
    torch's (int8: ``h`` times each rank column's scale)."""
    from inference_service.model.grouped_lora_kernel import grouped_lora_add_

    g = torch.Generator().manual_seed(3)
    caps, outs, positions, fan_in = (64, 0, 64, 40), (48, 24, 100, 33), 3, 70
    a, bs, cols = _operands(g, dtype, positions, fan_in, caps, outs)
    scales = torch.rand(positions, len(caps), generator=g)
    x = torch.randn(5, fan_in, generator=g)
    rows, offsets = torch.tensor([4, 0, 2, 1, 3]), torch.tensor([0, 3, 3, 5])  # position 1 holds no row
    y0 = torch.randn(5, sum(outs), generator=g)
    got = grouped_lora_add_(grouped_lora_kernel(), y0.clone(), x, rows, offsets, a, bs, scales, caps, outs,
                            col_scales=cols)
    want = y0.clone()
    for u in range(positions):
        for n in rows[offsets[u]:offsets[u + 1]].tolist():
            h, r0, o0 = x[n] @ a[u].float(), 0, 0
            if cols is not None:
                h = h * cols[u]
            for p, (c, o) in enumerate(zip(caps, outs)):
                if c:
                    want[n, o0:o0 + o] += scales[u, p] * h[r0:r0 + c] @ bs[p][u].float()
                    r0 += c
                o0 += o
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int8])
def test_rows_of_one_adapter_computed_together_equal_each_row_alone(kernel_or_skip, dtype):
    """A hot adapter's rows are computed up to four at a time (sharing each load of A and B, the outputs in
    tiles held in registers) and shared out between threads; each row's sums still run in its own order, so its
    delta is the one it gets alone (row after row of B), bit for bit, for any number of rows."""
    from inference_service.model.grouped_lora_kernel import grouped_lora_add_

    g = torch.Generator().manual_seed(5)
    caps, outs, fan_in = (16, 8), (40, 72), 48
    a, bs, cols = _operands(g, dtype, 2, fan_in, caps, outs)
    scales = torch.rand(2, len(caps), generator=g)
    kernel = grouped_lora_kernel()
    for n in (2, 3, 4, 5, 9, 16):
        x, y0 = torch.randn(n, fan_in, generator=g), torch.randn(n, sum(outs), generator=g)
        rows, offsets = torch.arange(n), torch.tensor([0, n - 1, n])  # n - 1 rows on one adapter, one on another
        together = grouped_lora_add_(kernel, y0.clone(), x, rows, offsets, a, bs, scales, caps, outs,
                                     col_scales=cols)
        for r in range(n):
            u = 0 if r < n - 1 else 1
            alone = grouped_lora_add_(kernel, y0[r:r + 1].clone(), x[r:r + 1].contiguous(), torch.tensor([0]),
                                      torch.tensor([0, 1]), a[u:u + 1], [b[u:u + 1] for b in bs], scales[u:u + 1],
                                      caps, outs, col_scales=None if cols is None else cols[u:u + 1].contiguous())
            assert torch.equal(together[r], alone[0]), (n, r)


def test_groups_read_the_operand_position_their_index_names(kernel_or_skip):
    """``index[g]`` is group ``g``'s operand position (FusedLoRA keeps each slot's operands at a cached position):
    groups read the positions they name, in any order, a group without rows may name none (-1), and a group
    with rows that names none, or one past the operands, is refused."""
    from inference_service.model.grouped_lora_kernel import grouped_lora_add_

    g = torch.Generator().manual_seed(11)
    caps, outs, fan_in = (16, 8), (40, 24), 32
    a = torch.randn(3, fan_in, sum(caps), generator=g)
    bs = [torch.randn(3, c, o, generator=g) for c, o in zip(caps, outs)]
    scales = torch.rand(3, len(caps), generator=g)
    x, y0 = torch.randn(4, fan_in, generator=g), torch.randn(4, sum(outs), generator=g)
    kernel = grouped_lora_kernel()
    rows, offsets = torch.tensor([1, 3, 0, 2]), torch.tensor([0, 0, 2, 4])  # group 0: no rows
    got = grouped_lora_add_(kernel, y0.clone(), x, rows, offsets, a, bs, scales, caps, outs,
                            index=torch.tensor([-1, 2, 0]))
    for row, pos in ((1, 2), (3, 2), (0, 0), (2, 0)):
        alone = grouped_lora_add_(kernel, y0[row:row + 1].clone(), x[row:row + 1].contiguous(), torch.tensor([0]),
                                  torch.tensor([0, 1]), a[pos:pos + 1], [b[pos:pos + 1] for b in bs],
                                  scales[pos:pos + 1], caps, outs)
        assert torch.equal(got[row], alone[0]), row
    for bad in ([0, -1, 0], [0, 3, 0]):
        with pytest.raises(RuntimeError, match="group 1 has rows but no operand position"):
            grouped_lora_add_(kernel, y0.clone(), x, rows, offsets, a, bs, scales, caps, outs,
                              index=torch.tensor(bad))


@pytest.mark.parametrize("operands", [torch.float32, torch.bfloat16])
def test_operand_writes_equal_torch_copies(kernel_or_skip, operands):
    """``FusedLoRA._write`` with the kernel (``write_operands_``, one call for all parts) lays a slot's parts
    out exactly as torch's copies would: ``A`` transposed into its rank columns, each ``B`` transposed, the
    scales beside them, bf16 rounded as torch rounds (the bank's values are fp32 and not bf16-exact here); a
    part no adapter targets has no columns, and an adapter of a rank below its layer's capacity keeps zeros
    in the padding."""
    from torch import nn

    from inference_service.model.fused_lora import FusedLoRA
    from inference_service.model.lora_bank import BankBatch, LoRABankLinear

    g = torch.Generator().manual_seed(13)
    batch = BankBatch()
    layers = [LoRABankLinear(nn.Linear(40, o, bias=False), num_slots=3, max_rank=32, batch=batch,
                             dtype=torch.float32, device="cpu") for o in (24, 16, 8)]

    def put(layer, slot, r, scale):
        layer.set_slot(slot, torch.randn(r, 40, generator=g), torch.randn(layer.out_features, r, generator=g), scale)

    put(layers[0], 1, 16, 2.0)
    put(layers[0], 2, 8, 0.5)     # rank 8 in a 16-wide layer: padded with zeros
    put(layers[2], 2, 20, 1.5)    # layers[1]: no adapter, no columns
    put(layers[2], 3, 4, 3.0)
    fused = FusedLoRA(layers, batch, kernel=grouped_lora_kernel(), operand_dtype=operands)
    caps = tuple(layer.rank_capacity for layer in layers)
    assert caps == (16, 0, 20)
    fused._allocate_held(caps, 3)
    for pos, slot in ((0, 2), (2, 1), (1, 3)):
        fused._a_t[pos].fill_(7.0)  # stale values: every entry must be overwritten
        for b in fused._b_t:
            if b is not None:
                b[pos].fill_(7.0)
        fused._write(pos, slot)
        r0 = 0
        for p, (layer, cap) in enumerate(zip(layers, caps)):
            if not cap:
                assert fused._b_t[p] is None
                continue
            assert torch.equal(fused._a_t[pos, :, r0:r0 + cap], layer.A[slot].t().to(operands)), (slot, p)
            assert torch.equal(fused._b_t[p][pos], layer.B[slot].t().to(operands)), (slot, p)
            assert fused._scales[pos, p] == layer.scale[slot], (slot, p)
            r0 += cap
    assert torch.equal(fused._a_t[0, :, 8:16], torch.zeros(40, 8, dtype=operands))  # slot 2's padding in part 0
    with pytest.raises(RuntimeError, match="pos inside"):
        fused._write(5, 1)


def test_int8_operand_writes_quantize_each_rank_component_on_its_absmax(kernel_or_skip):
    """int8 operands: each rank component ``j`` of a part (``A``'s row and ``B``'s column) is rounded to int8 on
    its own absmax, bit for bit as torch rounds ``w * 127 / amax`` (half to even), and the position's column
    scale is ``(amax_A / 127) * (amax_B / 127)``; a rank's padding and a zero component get scale 0. Served
    through the kernel, the delta is within 1.5% of the exact one's largest entry on Gaussian weights."""
    from torch import nn

    from inference_service.model.fused_lora import FusedLoRA
    from inference_service.model.lora_bank import BankBatch, LoRABankLinear

    g = torch.Generator().manual_seed(19)
    batch = BankBatch()
    layers = [LoRABankLinear(nn.Linear(96, o, bias=False), num_slots=2, max_rank=32, batch=batch,
                             dtype=torch.float32, device="cpu") for o in (80, 24)]
    layers[0].set_slot(1, torch.randn(16, 96, generator=g), torch.randn(80, 16, generator=g) * 0.01, 2.0)
    a1 = torch.randn(8, 96, generator=g)
    a1[3] = 0.0  # a zero rank component
    layers[1].set_slot(1, a1, torch.randn(24, 8, generator=g) * 0.01, 0.5)
    layers[1].set_slot(2, torch.randn(12, 96, generator=g), torch.randn(24, 12, generator=g), 1.0)  # cap 12 -> 16
    fused = FusedLoRA(layers, batch, kernel=grouped_lora_kernel(), operand_dtype=torch.int8)
    caps = tuple(layer.rank_capacity for layer in layers)
    assert caps == (16, 16)
    fused._allocate_held(caps, 2)
    assert fused._col_scales is not None and fused._col_scales.shape == (fused._a_t.shape[0], 32)
    fused._write(0, 1)
    r0 = 0
    for layer, cap, b_t in zip(layers, caps, fused._b_t):
        qa, sa = int8_quantized(layer.A[1], 1)
        qb, sb = int8_quantized(layer.B[1], 0)
        assert torch.equal(fused._a_t[0, :, r0:r0 + cap], qa.t()) and torch.equal(b_t[0], qb.t())
        assert torch.equal(fused._col_scales[0, r0:r0 + cap], sa.flatten() * sb.flatten())
        r0 += cap
    assert fused._col_scales[0, 16 + 3] == 0 and fused._col_scales[0, 16 + 8:].eq(0).all()  # zero row, padding
    x = torch.randn(3, 96, generator=g)
    got = fused.decode(x, torch.zeros(3, 104), (1, 1, 2))
    want = torch.zeros(3, 104)
    for i, slot in enumerate((1, 1, 2)):
        o0 = 0
        for layer in layers:
            r = layer.slot_rank[slot]
            if r:
                want[i, o0:o0 + layer.out_features] = layer.scale[slot] * (x[i] @ layer.A[slot, :r].t()) @ \
                    layer.B[slot, :, :r].t()
            o0 += layer.out_features
    err = (got - want).abs().max() / want.abs().max()
    assert 0 < err < 0.015, err


def test_a_refused_operand_write_changes_nothing(kernel_or_skip):
    """``write_operands_`` checks every part before it writes anything: a call refused for its last part (a
    source of the wrong shape) leaves the scales and operands of the position as they were."""
    kernel = grouped_lora_kernel()
    g = torch.Generator().manual_seed(17)
    caps, fan_in, outs = [8, 4], 12, [6, 10]
    a = torch.randn(2, fan_in, sum(caps), generator=g)
    bs = [torch.randn(2, c, o, generator=g) for c, o in zip(caps, outs)]
    scales = torch.rand(2, 2, generator=g)
    srcs_a = [torch.randn(3, c, fan_in, generator=g) for c in caps]
    srcs_b = [torch.randn(3, o, c, generator=g) for c, o in zip(caps, outs)]
    slot_scales = [torch.rand(3, generator=g) for _ in caps]
    before = (a.clone(), [b.clone() for b in bs], scales.clone())
    bad_b = [srcs_b[0], torch.randn(3, outs[1] + 1, caps[1], generator=g)]
    none = torch.empty(0)
    with pytest.raises(RuntimeError, match="source B part"):
        kernel.write_operands_(a, bs, scales, none, 1, srcs_a, bad_b, slot_scales, 2, caps)
    with pytest.raises(RuntimeError, match="column scales are for int8 operands only"):
        kernel.write_operands_(a, bs, scales, torch.zeros(2, sum(caps)), 1, srcs_a, srcs_b, slot_scales, 2, caps)
    a8, bs8 = torch.zeros(2, fan_in, sum(caps), dtype=torch.int8), [torch.zeros(2, c, o, dtype=torch.int8)
                                                                     for c, o in zip(caps, outs)]
    with pytest.raises(RuntimeError, match="int8 operands need column scales"):
        kernel.write_operands_(a8, bs8, scales, none, 1, srcs_a, srcs_b, slot_scales, 2, caps)
    assert torch.equal(a, before[0]) and all(torch.equal(b, o) for b, o in zip(bs, before[1]))
    assert torch.equal(scales, before[2]) and not a8.any()
    kernel.write_operands_(a, bs, scales, none, 1, srcs_a, srcs_b, slot_scales, 2, caps)  # the same call, well formed
    assert torch.equal(a[1, :, :8], srcs_a[0][2].t()) and torch.equal(bs[1][1], srcs_b[1][2].t())
    assert scales[1].tolist() == [slot_scales[0][2].item(), slot_scales[1][2].item()]
    assert torch.equal(a[0], before[0][0])  # the other position untouched


@pytest.mark.parametrize(("quantization", "want"), [("int4", torch.int8), ("nf4", torch.int8),
                                                    ("int8", torch.bfloat16), ("none", torch.bfloat16)])
def test_auto_operands_follow_the_base_precision(kernel_or_skip, quantization, want):
    """``auto`` (the default) serves adapters in int8 on a 4-bit base and in bf16 on any other; an explicit
    choice is kept whatever the base."""
    from inference_service.model.grouped_lora_kernel import decode_operands
    from lorafleet.config import Settings

    assert Settings.from_env(environ={}).lora_decode_operands == "auto"
    cpu = torch.device("cpu")
    assert decode_operands("auto", cpu, quantization)[1] == want
    assert decode_operands("fp32", cpu, quantization)[1] == torch.float32
    assert decode_operands("int8", cpu, "none")[1] == torch.int8
    assert decode_operands("auto", torch.device("meta"), quantization) == (None, None)  # no kernel off the CPU
