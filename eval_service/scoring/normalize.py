"""Text normalisation shared by the scorers and the refusal detector.

Model output differs from the expected answer in ways that do not change its meaning: Unicode
compatibility forms (full-width letters, ligatures, non-breaking spaces), typographic quotes and
dashes, letter case, runs of whitespace and Markdown emphasis. Normalising both sides first keeps
the scorers about meaning rather than typography.
"""

from __future__ import annotations

import re
import unicodedata

_QUOTES = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
})
_WS = re.compile(r"\s+")
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def normalize_text(text: str, *, casefold: bool = True) -> str:
    """NFKC, ASCII quotes and dashes, no zero-width characters, single spaces, optionally casefolded."""
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH.sub("", text).translate(_QUOTES)
    text = _WS.sub(" ", text).strip()
    return text.casefold() if casefold else text


_MARKDOWN = re.compile(r"[*_#>|~]+")


def strip_markdown(text: str) -> str:
    """Remove emphasis, heading, quote and table markers (keeps the words)."""
    return _MARKDOWN.sub(" ", text)
