"""Stop sequences (streaming-safe), per-row sampling filters and request validation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_service.engine.sampling import filter_logits, make_generator, select_tokens
from inference_service.engine.stop_text import TextTracker, partial_stop_suffix
from inference_service.engine.types import SamplingSpec
from inference_service.request_parsing import parse_prompt, parse_request_id, parse_sampling
from lorafleet.errors import InvalidArgument
from lorafleet.v1 import common_pb2, inference_pb2


class CharTokenizer:
    """One token per character (id = ord), enough to test the text logic exactly."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids)


def stream(text: str, stops: tuple[str, ...]) -> tuple[list[str], TextTracker]:
    tr = TextTracker(CharTokenizer(), stops)
    deltas = []
    for ch in text:
        deltas.append(tr.add(ord(ch)))
        if tr.stopped:
            break
    else:
        deltas.append(tr.flush())
    return deltas, tr


def test_stop_sequence_is_cut_and_never_streamed_in_part():
    deltas, tr = stream("hello END world", ("END",))
    assert tr.stopped and "".join(deltas) == "hello "
    assert all("E" not in d for d in deltas)


def test_partial_stop_that_never_completes_is_released_at_the_end():
    deltas, tr = stream("say EN", ("END",))
    assert not tr.stopped and "".join(deltas) == "say EN"
    assert deltas[-2] == "" and deltas[-1] == "EN"  # held back until the end


@given(st.text(alphabet="abcXY", max_size=40), st.lists(st.text(alphabet="abcXY", min_size=1, max_size=4), max_size=3))
@settings(max_examples=200, deadline=None)
def test_streamed_text_equals_the_text_up_to_the_first_stop(text, stops):
    deltas, tr = stream(text, tuple(stops))
    present = [s for s in stops if s in text]
    expected = text
    if present:
        # generation stops at the token completing the first stop; the cut is at the earliest
        # stop occurrence within the text seen so far
        end = min(text.find(s) + len(s) for s in present)
        prefix = text[:end]
        expected = text[: min(prefix.find(s) for s in stops if s in prefix)]
    assert "".join(deltas) == expected
    assert tr.stopped == bool(present)


@given(st.text(max_size=20), st.lists(st.text(min_size=1, max_size=6), max_size=4))
def test_partial_suffix_is_a_proper_prefix_of_a_stop(text, stops):
    n = partial_stop_suffix(text, tuple(stops))
    if n:
        assert any(s.startswith(text[-n:]) and len(s) > n for s in stops)


def test_top_k_and_top_p_filters():
    logits = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0])
    p = filter_logits(logits, 1.0, top_k=2, top_p=1.0)
    assert (p[2:] == 0).all() and torch.isclose(p.sum(), torch.tensor(1.0))
    full = torch.softmax(logits, -1)
    p = filter_logits(logits, 1.0, top_k=0, top_p=float(full[0]) + 1e-4)
    assert (p > 0).tolist() == [True, True, False, False, False]
    p = filter_logits(logits, 1.0, top_k=0, top_p=0.01)
    assert p.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_select_tokens_greedy_and_seeded_rows():
    torch.manual_seed(0)
    logits = torch.randn(3, 50)
    specs = [SamplingSpec(max_tokens=1), SamplingSpec(max_tokens=1, temperature=1.0, seed=7),
             SamplingSpec(max_tokens=1, temperature=1.0, seed=7)]
    out1 = select_tokens(logits, specs, [make_generator(s) for s in specs])
    out2 = select_tokens(logits, specs, [make_generator(s) for s in specs])
    assert out1 == out2 and out1[0] == int(logits[0].argmax()) and out1[1] == select_tokens(
        logits[1:2], specs[1:2], [make_generator(specs[1])])[0]


def sp(**kw):
    return common_pb2.SamplingParams(**kw)


def test_sampling_defaults_and_limits():
    spec = parse_sampling(sp(), default_max_tokens=16, max_tokens_limit=64)
    assert spec == SamplingSpec(max_tokens=16, temperature=0.0, top_p=1.0, top_k=0, seed=None, stop=())
    for kw, field in [({"max_tokens": 65}, "sampling.max_tokens"), ({"max_tokens": 0}, "sampling.max_tokens"),
                      ({"temperature": -1}, "sampling.temperature"), ({"top_p": 0}, "sampling.top_p"),
                      ({"top_p": 1.5}, "sampling.top_p"), ({"stop": [""]}, "sampling.stop[0]"),
                      ({"stop": ["x"] * 9}, "sampling.stop")]:
        with pytest.raises(InvalidArgument) as exc:
            parse_sampling(sp(**kw), default_max_tokens=16, max_tokens_limit=64)
        assert exc.value.field == field


@pytest.mark.parametrize("seed", [0, 2**63 - 1, 2**63, 2**64 - 1])
def test_every_uint64_seed_is_accepted_and_seeds_sampling(seed):
    """The field is uint64, so the whole range is a seed (it was refused from 2**63 on)."""
    spec = parse_sampling(sp(seed=seed, temperature=1.0), default_max_tokens=4, max_tokens_limit=64)
    assert spec.seed == seed
    logits = torch.randn(1, 50)
    first = select_tokens(logits, [spec], [make_generator(spec)])
    assert select_tokens(logits, [spec], [make_generator(spec)]) == first


@given(max_tokens=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
       temperature=st.one_of(st.none(), st.floats(width=32, allow_nan=True, allow_infinity=True)),
       top_p=st.one_of(st.none(), st.floats(width=32, allow_nan=True, allow_infinity=True)),
       top_k=st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_sampling_parser_accepts_only_valid_values(max_tokens, temperature, top_p, top_k):
    kw = {k: v for k, v in dict(max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k).items()
          if v is not None}
    try:
        spec = parse_sampling(sp(**kw), default_max_tokens=8, max_tokens_limit=100)
    except InvalidArgument as exc:
        assert exc.field and exc.field.startswith("sampling.")
        return
    assert 1 <= spec.max_tokens <= 100 and 0 <= spec.temperature <= 10 and 0 < spec.top_p <= 1 and spec.top_k >= 0


def test_prompt_xor_messages_and_roles():
    assert parse_prompt(inference_pb2.GenerateRequest(prompt="hi")).prompt == "hi"
    msgs = parse_prompt(inference_pb2.GenerateRequest(messages=[common_pb2.ChatMessage(role="user", content="x")]))
    assert msgs.messages == (("user", "x"),)
    with pytest.raises(InvalidArgument, match="either"):
        parse_prompt(inference_pb2.GenerateRequest(prompt="a",
                                                   messages=[common_pb2.ChatMessage(role="user", content="x")]))
    with pytest.raises(InvalidArgument) as exc:
        parse_prompt(inference_pb2.GenerateRequest(messages=[common_pb2.ChatMessage(role="robot", content="x")]))
    assert exc.value.field == "messages[0].role"
    with pytest.raises(InvalidArgument):
        parse_prompt(inference_pb2.GenerateRequest())
    with pytest.raises(InvalidArgument):
        parse_request_id("x" * 200)
