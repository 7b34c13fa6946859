"""Parsing of adapter references: ``name``, ``name@alias``, ``name@3``.

``name`` alone means the ``production`` alias; an empty reference means the bare base model.
Names and aliases are lower-case DNS-label-like strings so they are safe in paths, URLs and
Kubernetes labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lorafleet.errors import InvalidArgument, quote

DEFAULT_ALIAS = "production"
NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
ALIAS_RE = re.compile(r"[a-z](?:[a-z0-9_-]{0,30}[a-z0-9])?")
MAX_VERSION = 2**31 - 1
# Longest reference text parsed at all: a name (64), "@" and an alias (32) or a version, with room for blanks.
MAX_REF_CHARS = 256


@dataclass(frozen=True)
class AdapterRef:
    """A parsed reference. Exactly one of ``version`` and ``alias`` is set."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.version if self.version is not None else self.alias}"


def validate_name(name: str, field: str = "name") -> str:
    if not name:
        raise InvalidArgument("must not be empty", field=field)
    if not NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f"{quote(name)} is not a valid adapter name (lower-case letters, digits, '.', '_', '-'; "
            "1-64 characters; starts and ends with a letter or digit)",
            field=field,
        )
    return name


def validate_alias(alias: str, field: str = "alias") -> str:
    if not alias:
        raise InvalidArgument("must not be empty", field=field)
    if not ALIAS_RE.fullmatch(alias):
        raise InvalidArgument(
            f"{quote(alias)} is not a valid alias (starts with a lower-case letter; letters, digits, "
            "'_', '-'; at most 32 characters)",
            field=field,
        )
    return alias


def parse_ref(text: str, field: str = "adapter") -> AdapterRef | None:
    """Parse a reference; returns None for the empty reference (the base model)."""
    if len(text) > MAX_REF_CHARS:
        raise InvalidArgument(f"{quote(text)} is longer than {MAX_REF_CHARS} characters; use name, name@alias "
                              "or name@version", field=field)
    text = text.strip()
    if not text:
        return None
    name, sep, selector = text.partition("@")
    validate_name(name, field)
    if not sep:
        return AdapterRef(name=name, alias=DEFAULT_ALIAS)
    if not selector:
        raise InvalidArgument(f"{quote(text)}: nothing after '@' (use name@alias or name@version)", field=field)
    if selector.isascii() and selector.isdigit():
        version = int(selector)
        if not 1 <= version <= MAX_VERSION:
            raise InvalidArgument(f"{quote(text)}: versions run from 1 to {MAX_VERSION}", field=field)
        return AdapterRef(name=name, version=version)
    validate_alias(selector, field)
    return AdapterRef(name=name, alias=selector)


def parse_versioned_ref(text: str, field: str = "adapter") -> AdapterRef:
    """Parse a reference that must name an explicit version (``name@3``)."""
    ref = parse_ref(text, field)
    if ref is None or ref.version is None:
        raise InvalidArgument(f"{quote(text)} must name an explicit version, like 'support-bot@3'", field=field)
    return ref
