"""Incremental detokenization with stop sequences, safe for streaming.

The whole completion is re-decoded each step (byte-level BPE may need later tokens to finish a
character: a trailing U+FFFD is held back). A stop sequence ends generation and is cut from the
text; a text suffix that is a prefix of some stop sequence is held back, because the next
tokens may complete it — so a client never sees part of a stop sequence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def partial_stop_suffix(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of a stop string."""
    best = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:n]):
                best = n
                break
    return best


class TextTracker:
    def __init__(self, tokenizer: PreTrainedTokenizerBase, stops: tuple[str, ...]) -> None:
        self.tokenizer = tokenizer
        self.stops = tuple(s for s in stops if s)
        self.token_ids: list[int] = []
        self.emitted = 0  # characters of the final text already sent
        self.text = ""
        self.stopped = False

    def add(self, token_id: int | None, *, stops_active: bool = True) -> str:
        """Add a token (None: none, e.g. at EOS); return the newly releasable text.

        With ``stops_active`` False (before ``min_tokens``) stop sequences neither end the text nor
        hold it back.
        """
        if token_id is not None:
            self.token_ids.append(token_id)
        text = self.tokenizer.decode(self.token_ids, skip_special_tokens=True)
        stops = self.stops if stops_active else ()
        search_from = max(0, self.emitted - max((len(s) for s in stops), default=0))
        cut = -1
        for stop in stops:
            idx = text.find(stop, search_from)
            if idx != -1 and idx + len(stop) <= self.emitted:  # released before stops applied (min_tokens)
                idx = text.find(stop, self.emitted - len(stop) + 1)
            if idx != -1 and (cut == -1 or idx < cut):
                cut = idx
        if cut != -1:
            self.stopped = True
            self.text = text[:cut]
            return self._release(len(self.text))
        self.text = text
        safe = len(text)
        if text.endswith("\ufffd"):
            safe = len(text.rstrip("\ufffd"))
        safe -= partial_stop_suffix(text[:safe], stops)
        return self._release(max(safe, self.emitted))

    def flush(self) -> str:
        """At the end: release everything held back (a partial stop that never completed)."""
        return self._release(len(self.text))

    def _release(self, upto: int) -> str:
        delta = self.text[self.emitted:upto]
        self.emitted = max(self.emitted, upto)
        return delta
