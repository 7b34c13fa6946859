"""Packing: no attention across examples, no labels across boundaries, little padding."""

from __future__ import annotations

import pytest
import torch

from trainer_service.data.packing import block_diagonal_causal_mask, pack_rows, packed_batch, padded_batch
from trainer_service.data.tokenize import IGNORE_INDEX, TokenizedExample


def _ex(n: int, start: int = 10, labelled: bool = True) -> TokenizedExample:
    ids = tuple(range(start, start + n))
    return TokenizedExample(ids, ids if labelled else (IGNORE_INDEX,) * n)


@pytest.mark.parametrize("attn", ["sdpa", "eager", "lorafleet_packed"])
def test_packed_row_logits_equal_each_example_alone(tiny_model_dir, attn) -> None:
    from transformers import AutoModelForCausalLM

    import trainer_service.training.attention  # noqa: F401 - registers "lorafleet_packed"

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), attn_implementation=attn).eval()
    torch.manual_seed(1)
    examples = [TokenizedExample(tuple(torch.randint(3, 49000, (n,)).tolist()), (0,) * n) for n in (7, 12, 5)]
    batch = packed_batch(examples, max_len=64, pad_id=2)
    assert batch.input_ids.shape[0] == 1 and batch.attention_mask is None
    with torch.no_grad():
        packed = model(input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False).logits[0]
        row = batch.input_ids[0].tolist()
        for ex in examples:
            alone = model(input_ids=torch.tensor([ex.input_ids]), use_cache=False).logits[0]
            at = next(i for i in range(len(row)) if tuple(row[i:i + ex.num_tokens]) == ex.input_ids)
            torch.testing.assert_close(packed[at:at + ex.num_tokens], alone, atol=1e-4, rtol=1e-4)


def test_without_position_resets_examples_would_attend_to_each_other(tiny_model_dir) -> None:
    """Guards the test above: the same row with plain positions gives different logits."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    batch = packed_batch([_ex(6, 100), _ex(6, 200)], max_len=64, pad_id=2)
    with torch.no_grad():
        packed = model(input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False).logits[0]
        plain = model(input_ids=batch.input_ids, use_cache=False).logits[0]
    assert not torch.allclose(packed[6:], plain[6:], atol=1e-3)
    torch.testing.assert_close(packed[:6], plain[:6])


def test_pack_rows_fits_capacity_and_keeps_every_example() -> None:
    examples = [_ex(n) for n in (30, 50, 10, 40, 20, 30, 14)]
    rows = pack_rows(examples, 64)
    assert all(sum(e.num_tokens for e in row) <= 64 for row in rows)
    assert sorted(e.num_tokens for row in rows for e in row) == sorted(e.num_tokens for e in examples)
    assert len(rows) == 4  # 194 tokens need >= 4 rows of 64; first-fit decreasing reaches that


def test_packed_labels_never_cross_an_example_boundary() -> None:
    batch = packed_batch([_ex(4, 10), _ex(4, 20), _ex(3, 30)], max_len=16, pad_id=0)
    pos = batch.position_ids[0].tolist()
    starts = [i for i, p in enumerate(pos) if p == 0]
    for s in starts:
        assert batch.labels[0, s] == IGNORE_INDEX  # the first token of an example is never a target
    assert batch.num_tokens == 11 and batch.num_label_tokens == 8


def test_block_diagonal_mask_matches_segments() -> None:
    pos = torch.tensor([[0, 1, 2, 0, 1, 0]])
    mask = block_diagonal_causal_mask(pos)[0, 0]
    expected = torch.tensor([[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0],
                             [0, 0, 0, 1, 0, 0], [0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 1]], dtype=torch.bool)
    assert torch.equal(mask, expected)


def test_packing_removes_padding_that_padded_batches_carry() -> None:
    examples = [_ex(n) for n in (60, 10, 12, 9, 11)]
    packed = packed_batch(examples, max_len=128, pad_id=0)
    padded = padded_batch(examples, max_len=128, pad_id=0)
    assert packed.num_tokens == padded.num_tokens == 102
    assert packed.input_ids.numel() == 102  # one row, no padding at all
    assert padded.input_ids.numel() == 5 * 60
    assert padded.num_label_tokens == packed.num_label_tokens


def test_packed_attention_matches_stock_sdpa_with_padding_masks(tiny_model_dir) -> None:
    """Left-padded generation-style batches fall back to the stock masked path: same logits."""
    from transformers import AutoModelForCausalLM

    import trainer_service.training.attention  # noqa: F401

    stock = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), attn_implementation="sdpa").eval()
    ours = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), attn_implementation="lorafleet_packed").eval()
    ids = torch.tensor([[2, 2, 2, 11, 12, 13], [21, 22, 23, 24, 25, 26]])
    mask = torch.tensor([[0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        torch.testing.assert_close(ours(input_ids=ids, attention_mask=mask).logits,
                                   stock(input_ids=ids, attention_mask=mask).logits)
        out_a = ours.generate(input_ids=ids, attention_mask=mask, max_new_tokens=4, do_sample=False, pad_token_id=2)
        out_b = stock.generate(input_ids=ids, attention_mask=mask, max_new_tokens=4, do_sample=False, pad_token_id=2)
    assert torch.equal(out_a, out_b)
