"""Opaque page tokens for List RPCs.

A token is ``base64url(json({"o": offset, "f": filter_digest}))``. The digest binds a token to
the filters it was issued for, so reusing it with other filters is refused instead of silently
skipping rows. Tokens are opaque to clients; a malformed one is INVALID_ARGUMENT (page_token).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from lorafleet.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def filter_digest(*filters: object) -> str:
    return hashlib.sha256(repr(filters).encode()).hexdigest()[:16]


def encode_page_token(offset: int, digest: str) -> str:
    raw = json.dumps({"o": offset, "f": digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, digest: str, field: str = "page_token") -> int:
    """Offset encoded in ``token`` (0 for the empty token)."""
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = data["o"]
        token_digest = data["f"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise InvalidArgument("is not a page token issued by this server", field=field) from exc
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidArgument("is not a page token issued by this server", field=field)
    if token_digest != digest:
        raise InvalidArgument("was issued for other filters; start again without a token", field=field)
    return offset


def page_size(requested: int) -> int:
    """0 -> the default; larger than the maximum is clamped (AIP-158)."""
    if requested < 0:
        raise InvalidArgument("must be >= 0", field="page_size")
    return DEFAULT_PAGE_SIZE if requested == 0 else min(requested, MAX_PAGE_SIZE)
