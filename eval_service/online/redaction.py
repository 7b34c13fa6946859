"""Redaction of live text before it is stored: what a decision's evidence may keep of user data.

Live prompts and replies are user data, and fine-tuned models can echo what they saw. Only the
text of the few cases behind a decision is ever stored, and only after this pass replaced:

* e-mail addresses                     -> ``[email]``
* card-like numbers (13-19 digits, spaces or dashes allowed, Luhn-valid) -> ``[card]``
* phone numbers (7+ digits with the usual separators, optional +country) -> ``[phone]``
* IPv4 and IPv6 addresses              -> ``[ip]``

Cards are checked before phones (a card number is also a long digit run) and only Luhn-valid runs
count as cards, so order numbers stay readable; any remaining run of 7+ digits is treated as a
phone number. Text is also capped at ``MAX_CHARS``.
"""

from __future__ import annotations

import ipaddress
import re

MAX_CHARS = 2000
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_PHONE = re.compile(r"(?<![\w+])\+?\d(?:[ .()-]*\d){6,14}(?!\w)")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group()


def _ip(match: re.Match[str]) -> str:
    try:
        ipaddress.ip_address(match.group())
    except ValueError:
        return match.group()
    return "[ip]"


def redact(text: str) -> str:
    """``text`` with personal data replaced (see the module docstring), at most MAX_CHARS long."""
    text = text[: MAX_CHARS * 2]
    text = _EMAIL.sub("[email]", text)
    text = _IPV6.sub(_ip, text)
    text = _IPV4.sub(_ip, text)
    text = _CARD.sub(_card, text)
    text = _PHONE.sub("[phone]", text)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "…"
