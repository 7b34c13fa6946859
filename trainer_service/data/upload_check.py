"""What an upload must be before it is stored: non-empty UTF-8 text, no binary control bytes.

A dataset is JSON Lines, so a file that is empty (or only blanks), not UTF-8, or holds control
bytes other than tab, line feed and carriage return (NUL bytes are the mark of a binary file; JSON
allows no other control character outside an escape) can never be a dataset. ``UploadCheck`` sees
the chunks as they stream in and refuses the upload at the first bad byte, with INVALID_ARGUMENT
(field ``chunk``) naming its line (1-based) and byte offset (0-based) in the file, so a client learns
at upload what is wrong instead of getting a dataset of zero examples.
"""

from __future__ import annotations

import codecs
import re

from lorafleet.errors import InvalidArgument

FIELD = "chunk"
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class UploadCheck:
    """Feed every chunk in order, then call :meth:`finish`; each raises InvalidArgument on bad content."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.size = 0  # bytes seen before the current chunk
        self.line = 1  # line the next byte is on
        self._blank = True

    def _refuse(self, chunk: bytes, index: int, what: str) -> InvalidArgument:
        """``index``: position in ``chunk`` (may be negative: in the bytes held back from the last chunk)."""
        line = self.line + (chunk[:index].count(b"\n") if index > 0 else 0)
        return InvalidArgument(f"line {line}, byte offset {self.size + index}: {what}; a dataset must be UTF-8 "
                               "JSON Lines text", field=FIELD)

    def feed(self, chunk: bytes) -> None:
        control = _CONTROL.search(chunk)
        if control is not None:
            byte = chunk[control.start()]
            kind = "a NUL byte (binary data)" if byte == 0 else f"the control byte 0x{byte:02x} (binary data)"
            raise self._refuse(chunk, control.start(), kind)
        pending = len(self._decoder.getstate()[0])
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            at = exc.start - pending
            raise self._refuse(chunk, at, f"invalid UTF-8 (byte 0x{exc.object[exc.start]:02x})") from None
        if self._blank and chunk.strip():
            self._blank = False
        self.line += chunk.count(b"\n")
        self.size += len(chunk)

    def finish(self) -> None:
        pending = len(self._decoder.getstate()[0])
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise self._refuse(b"", -pending, "the file ends inside a UTF-8 character (invalid UTF-8)") from None
        if self._blank:
            what = "the upload is empty" if self.size == 0 else "the upload holds only blank lines"
            raise InvalidArgument(f"{what}; a dataset needs at least one JSON record per line", field=FIELD)
