"""The project's int4 matmul kernel (kernels/int4_matmul.cpp) against the exact product, torch's int4 kernel and
itself in other batches."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_service.model.quant import GROUP, KERNEL_DENSE_ROWS, Int4Weight, int4_kernel

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def kernel():
    k = int4_kernel(CPU)
    if k is None:
        pytest.skip("the int4 kernel needs AVX512-BF16 and a compiler")
    return k


def _grid(n: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(0, 16, (n, k), generator=g, dtype=torch.uint8)
    scale = (torch.rand(n, k // GROUP, generator=g) * 0.02 + 1e-4).to(torch.bfloat16)
    zero = (torch.randn(n, k // GROUP, generator=g) * 0.05).to(torch.bfloat16)
    return q, scale, zero


def _exact(x: torch.Tensor, q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    """``bf16(x) · wᵀ`` in float64, ``w = (q - 8)·s + z`` per group of 32."""
    n, k = q.shape
    w = ((q.double() - 8).view(n, -1, GROUP) * scale.double()[..., None] + zero.double()[..., None]).view(n, k)
    return x.to(torch.bfloat16).double() @ w.t()


def _paths(kernel) -> list[str]:
    """The kernel's entry points this CPU runs: ``mm`` (AMX tiles where the CPU has them), the vdpbf16ps loop,
    and the tile path itself on an AMX CPU."""
    return ["mm", "mm_loop"] + (["mm_amx"] if kernel.amx() else [])


@settings(max_examples=40, deadline=None)
@given(blocks=st.integers(1, 7), groups=st.integers(1, 6), rows=st.integers(1, 40), seed=st.integers(0, 2**16),
       pick=st.integers(0, 2))
def test_kernel_equals_the_exact_product_of_the_bf16_rounded_input(kernel, blocks, groups, rows, seed, pick):
    """Any shape it takes (16-column blocks, 32-input groups, 1..40 rows: one pass, several, uneven; on AMX 1 to
    3 blocks side by side and a remainder), on each path: the result is the exact product of the bf16-rounded
    input with the int4 weight, up to fp32 summation."""
    n, k = 16 * blocks, GROUP * groups
    q, scale, zero = _grid(n, k, seed)
    packed, scales_zeros = kernel.pack(q, scale, zero)
    x = torch.randn(rows, k, generator=torch.Generator().manual_seed(seed + 1)) * 3
    paths = _paths(kernel)
    got = getattr(kernel, paths[pick % len(paths)])(x, packed, scales_zeros)
    exact = _exact(x, q, scale, zero)
    assert got.dtype == torch.float32 and got.shape == (rows, n)
    bound = 1e-5 * (x.abs().to(torch.bfloat16).double() @ (q.double() + 128).t().abs()).max() * scale.double().max()
    assert (got.double() - exact).abs().max() <= bound + 1e-6


@pytest.mark.parametrize("path", ["mm", "mm_loop", "mm_amx"])
def test_a_rows_result_does_not_depend_on_its_batch(kernel, path):
    """Each row runs the same sums in the same order whatever rows share its call: bit for bit, on each path."""
    if path not in _paths(kernel):
        pytest.skip("this CPU has no AMX tiles")
    mm = getattr(kernel, path)
    q, scale, zero = _grid(64, 96, 3)
    packed, scales_zeros = kernel.pack(q, scale, zero)
    x = torch.randn(37, 96)
    together = mm(x, packed, scales_zeros)
    for r in (0, 7, 16, 36):
        assert torch.equal(mm(x[r:r + 1].contiguous(), packed, scales_zeros)[0], together[r])
    assert torch.equal(mm(x[5:21].contiguous(), packed, scales_zeros), together[5:21])


def test_mm_runs_on_amx_tiles_exactly_where_the_cpu_has_them(kernel):
    """``mm`` is the tile path on a CPU with AMX-BF16 (the same numbers as ``mm_amx``, bit for bit) and the loop
    elsewhere, where ``mm_amx`` is refused with the reason; the two paths agree to fp32 summation."""
    q, scale, zero = _grid(80, 192, 5)
    packed, scales_zeros = kernel.pack(q, scale, zero)
    x = torch.randn(19, 192) * 3
    assert kernel.amx() == torch.cpu._is_amx_tile_supported()
    auto, loop = kernel.mm(x, packed, scales_zeros), kernel.mm_loop(x, packed, scales_zeros)
    if kernel.amx():
        assert torch.equal(auto, kernel.mm_amx(x, packed, scales_zeros))
        assert (auto - loop).abs().max() <= 1e-6 * loop.abs().max()
    else:
        assert torch.equal(auto, loop)
        with pytest.raises(RuntimeError, match="AMX"):
            kernel.mm_amx(x, packed, scales_zeros)


def test_int4_weight_takes_the_kernel_and_stays_within_bf16_of_torchs_kernel(kernel):
    """``Int4Weight`` quantizes once and both kernels multiply that grid: torch's rounds its output to bf16 (and
    sums in its own order), the project's does not (its error is the exact-product test's above), so they
    differ by a few bf16 roundings of the output."""
    torch.manual_seed(0)
    w = torch.randn(96, 128) * 0.05
    ours, torchs = Int4Weight(w, device=CPU), Int4Weight(w, device=CPU, kernel=False)
    assert ours.kernel is not None and torchs.kernel is None
    for rows in (1, 5, KERNEL_DENSE_ROWS - 1):
        x = torch.randn(rows, 128)
        a, b = ours.mm(x), torchs.mm(x.to(torch.bfloat16)).float()
        assert a.dtype == torch.float32
        assert (a - b).abs().max() <= 2 ** -7 * b.abs().max()  # a few bf16 roundings of the largest output
    big = torch.randn(KERNEL_DENSE_ROWS, 128)  # prefill-sized: the de-quantized bf16 copy, as before
    assert ours.mm(big).dtype == torch.bfloat16
    torch.testing.assert_close(ours.mm(big).float(), torchs.mm(big.to(torch.bfloat16)).float(), rtol=0, atol=0)


@pytest.mark.parametrize("bad", ["x_dtype", "x_width", "rows", "packed"])
def test_bad_operands_are_refused_with_a_reason(kernel, bad):
    q, scale, zero = _grid(32, 64, 1)
    packed, scales_zeros = kernel.pack(q, scale, zero)
    x = torch.randn(2, 64)
    args = {"x_dtype": (x.double(), packed, scales_zeros), "x_width": (torch.randn(2, 96), packed, scales_zeros),
            "rows": (torch.randn(2, 64).t(), packed, scales_zeros),
            "packed": (x, packed.float(), scales_zeros)}[bad]
    with pytest.raises(RuntimeError) as exc:
        kernel.mm(*args)
    assert any(word in str(exc.value) for word in ("x:", "k must", "packed:"))
    with pytest.raises(RuntimeError, match="multiple of 16"):
        kernel.pack(q[:20], scale[:20], zero[:20])
