"""The shared validation layer (lorafleet/server/validation.py) and quote() (lorafleet/errors.py)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lorafleet.errors import InvalidArgument, NotFound, quote
from lorafleet.server.validation import (
    MAX_DETAILS_BYTES,
    MAX_PATH_CHARS,
    check_text,
    confine_path,
    load_json_line,
    safe_details,
)


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "ds.jsonl").write_text("{}\n")
    (outside / "secret").write_text("s")
    (root / "escape").symlink_to(outside)
    (root / "inside-link").symlink_to(root / "ds.jsonl")
    (root / "loop").symlink_to(root / "loop")
    return {"root": root.resolve(), "outside": outside}


def _refused(text: str, roots: list[Path], **kw) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as err:
        confine_path(text, roots, field="path", **kw)
    assert err.value.field == "path" and len(str(err.value)) < 300
    return err.value


def test_paths_inside_the_roots_resolve(tree) -> None:
    root = tree["root"]
    assert confine_path(str(root / "ds.jsonl"), [root], field="path") == root / "ds.jsonl"
    assert confine_path(str(root / "inside-link"), [root], field="path") == root / "ds.jsonl"
    assert confine_path(str(root / "sub"), [root], field="path", kind="dir") == root / "sub"
    assert confine_path(str(root / "not-yet"), [root], field="path", kind=None) == root / "not-yet"


def test_hostile_paths_are_invalid_argument_naming_the_field(tree) -> None:
    root = tree["root"]
    assert "NUL byte" in _refused(f"{root}/ds.jsonl\x00x", [root]).message
    assert "'..'" in _refused(f"{root}/sub/../ds.jsonl", [root]).message
    assert "outside" in _refused(str(root / "escape" / "secret"), [root]).message
    assert "outside" in _refused(str(tree["outside"] / "secret"), [root]).message
    assert "outside" in _refused("/etc/passwd", [root]).message
    assert "cannot be" in _refused(str(root / "loop"), [root]).message
    assert "cannot be" in _refused(str(root / ("x" * 300)), [root]).message  # a name longer than NAME_MAX
    assert f"at most {MAX_PATH_CHARS}" in _refused("/" + "a" * MAX_PATH_CHARS, [root]).message
    assert "must not be empty" in _refused("", [root]).message
    assert "disabled" in _refused(str(root / "ds.jsonl"), []).message


def test_a_missing_file_or_the_wrong_kind_is_not_found(tree) -> None:
    root = tree["root"]
    for text, kind in ((str(root / "missing.jsonl"), "file"), (str(root / "sub"), "file"),
                       (str(root / "ds.jsonl"), "dir")):
        with pytest.raises(NotFound) as err:
            confine_path(text, [root], field="path", kind=kind)
        assert err.value.field == "path"


def test_quote_shows_a_short_prefix_and_the_length() -> None:
    assert quote("bot") == "'bot'"
    assert quote("a\x00b") == "'a\\x00b'"
    long = quote("a" * 1_048_576)
    assert long.startswith("'" + "a" * 40 + "'") and long.endswith("(1048576 characters)") and len(long) < 80


def test_check_text() -> None:
    assert check_text("abc", "f", 3) == "abc"
    with pytest.raises(InvalidArgument, match="at most 3"):
        check_text("abcd", "f", 3)
    with pytest.raises(InvalidArgument, match="printable"):
        check_text("a\x00", "f", 10, printable=True)


@given(st.text(max_size=3000))
def test_safe_details_is_bounded_utf8(text: str) -> None:
    out = safe_details(text)
    assert len(out.encode("utf-8")) <= MAX_DETAILS_BYTES
    assert out == text or out.endswith("…")


def test_load_json_line_raises_only_decode_errors() -> None:
    cases = {"[" * 100_000 + "]" * 100_000: "nested too deeply", '{"text": 1' + "0" * 100_000: "digits",
             '{"a": -' + "9" * 4301 + "}": "digits", "{broken": "Expecting"}
    results: dict[str, str] = {}

    def run() -> None:  # a server parses in a worker thread: the same stack as asyncio.to_thread
        for line in cases:
            try:
                load_json_line(line)
            except json.JSONDecodeError as exc:
                results[line] = exc.msg

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    for line, fragment in cases.items():
        assert fragment in results[line] and len(results[line]) < 130
    assert load_json_line('{"n": ' + "9" * 4300 + ', "f": 1e999}')["f"] == float("inf")


def test_no_file_is_created_by_confining(tree) -> None:
    before = sorted(os.listdir(tree["root"]))
    for text in ("/tmp/x\x00y", f"{tree['root']}/new", "../x"):
        with contextlib.suppress(InvalidArgument, NotFound):
            confine_path(text, [tree["root"]], field="path")
    assert sorted(os.listdir(tree["root"])) == before
