"""Property tests: adapter references (lorafleet/registry/refs.py), request validation, page tokens."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lorafleet.errors import InvalidArgument
from lorafleet.refs import (
    ALIAS_RE,
    DEFAULT_ALIAS,
    NAME_RE,
    AdapterRef,
    parse_ref,
    parse_versioned_ref,
    validate_alias,
    validate_name,
)
from lorafleet.registry import paging
from lorafleet.server.registry_service import validate_import_request, validate_set_alias_request
from lorafleet.v1 import registry_pb2

NAME_BODY = string.ascii_lowercase + string.digits + "._-"
EDGE = string.ascii_lowercase + string.digits
names = st.builds(lambda a, mid, b: a + mid + b, st.sampled_from(EDGE),
                  st.text(NAME_BODY, max_size=62), st.sampled_from(EDGE)) | st.sampled_from(EDGE)
aliases = st.builds(lambda a, mid, b: a + mid + b, st.sampled_from(string.ascii_lowercase),
                    st.text(string.ascii_lowercase + string.digits + "_-", max_size=30),
                    st.sampled_from(string.ascii_lowercase + string.digits)) | st.sampled_from(string.ascii_lowercase)
versions = st.integers(min_value=1, max_value=2**31 - 1)
FIELDS = {"name", "alias", "version", "reason", "path", "description", "metrics"}


@given(names, versions)
def test_versioned_ref_round_trips(name, version):
    ref = parse_ref(f"{name}@{version}")
    assert ref == AdapterRef(name=name, version=version)
    assert parse_ref(str(ref)) == ref == parse_versioned_ref(str(ref))


@given(names, aliases)
def test_alias_ref_round_trips(name, alias):
    ref = parse_ref(f"{name}@{alias}")
    assert ref == AdapterRef(name=name, alias=alias)
    assert parse_ref(str(ref)) == ref
    with pytest.raises(InvalidArgument):
        parse_versioned_ref(str(ref))


@given(names, st.sampled_from(["", " ", "\t"]))
def test_bare_name_means_production(name, pad):
    assert parse_ref(pad + name + pad) == AdapterRef(name=name, alias=DEFAULT_ALIAS)


@given(st.text(max_size=80))
@example("bot@0")
@example("bot@")
@example("@3")
@example("a@b@c")
@settings(max_examples=300)
def test_any_text_parses_or_is_refused_with_the_field(text):
    """Never another exception (that would surface as INTERNAL), and never a name the regex refuses."""
    try:
        ref = parse_ref(text, field="adapter")
    except InvalidArgument as exc:
        assert exc.field == "adapter"
        return
    if ref is None:
        assert text.strip() == ""
        return
    assert NAME_RE.fullmatch(ref.name)
    assert (ref.version is None) != (ref.alias is None)
    if ref.version is not None:
        assert ref.version >= 1
    else:
        assert ALIAS_RE.fullmatch(ref.alias)


def test_superscript_digit_version_is_invalid_argument():
    with pytest.raises(InvalidArgument):
        parse_ref("bot@²")


def test_trailing_newline_is_not_a_valid_name():
    with pytest.raises(InvalidArgument):
        validate_name("bot\n")


@given(st.text(max_size=70))
def test_validate_name_and_alias_agree_with_their_regexes(text):
    for validate, regex in ((validate_name, NAME_RE), (validate_alias, ALIAS_RE)):
        try:
            assert validate(text) == text
        except InvalidArgument as exc:
            assert exc.field in ("name", "alias")
            assert not text or not regex.fullmatch(text)
        else:
            assert regex.fullmatch(text)


@given(name=st.text(max_size=20), alias=st.text(max_size=12), version=st.integers(0, 2**32 - 1),
       rollback=st.booleans(), expected=st.integers(0, 2**32 - 1), reason=st.text(max_size=20))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_set_alias_request_validation(name, alias, version, rollback, expected, reason):
    request = registry_pb2.SetAliasRequest(name=name, alias=alias, version=version, rollback=rollback,
                                           expected_current_version=expected, reason=reason)
    try:
        got_name, got_alias, got_expected = validate_set_alias_request(request)
    except InvalidArgument as exc:
        assert exc.field in FIELDS
        return
    assert (got_name, got_alias) == (name, alias)
    assert got_expected == (expected or None)
    assert rollback != (version > 0)  # exactly one of a target version and rollback


@given(name=st.sampled_from(["bot", "Bot", "", "a" * 65]), path=st.text(max_size=30),
       metrics=st.dictionaries(st.text(max_size=5), st.floats(allow_nan=True, allow_infinity=True), max_size=3))
def test_import_request_validation(name, path, metrics):
    request = registry_pb2.ImportAdapterRequest(name=name, path=path, metrics=metrics)
    try:
        got_name, got_path, got_metrics = validate_import_request(request)
    except InvalidArgument as exc:
        assert exc.field in FIELDS
        return
    assert got_name == name == "bot" and got_path.is_absolute()
    assert got_metrics == metrics and all(k for k in metrics)


@given(st.integers(0, 10**9), st.text(max_size=10))
def test_page_tokens_round_trip(offset, filt):
    digest = paging.filter_digest(filt)
    assert paging.decode_page_token(paging.encode_page_token(offset, digest), digest) == offset


@given(st.text(max_size=60))
def test_any_page_token_decodes_or_is_invalid_argument(token):
    try:
        offset = paging.decode_page_token(token, paging.filter_digest("x"))
    except InvalidArgument as exc:
        assert exc.field == "page_token"
    else:
        assert offset >= 0 and (offset == 0 or token)
