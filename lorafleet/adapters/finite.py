"""Refuse adapter weights that are not finite: one NaN or Inf in ``A`` or ``B`` poisons every reply.

A job whose loss diverged (a huge ``lora.alpha``, a learning rate near 1) or a broken imported file
can hold NaN or Inf; the registry must never register such a version, whatever its source. The check
reads the safetensors file directly (8-byte header length, JSON header, then raw little-endian data)
through a memory map, without torch, and looks at the exponent bits: a floating-point value is Inf or
NaN exactly when all of its exponent bits are set. Integer tensors are finite by construction.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from lorafleet.errors import InvalidArgument, quote

# safetensors dtype -> (unsigned little-endian view, exponent mask); all exponent bits set = Inf or NaN
_EXPONENT_MASKS: dict[str, tuple[str, int]] = {
    "F64": ("<u8", 0x7FF0_0000_0000_0000),
    "F32": ("<u4", 0x7F80_0000),
    "F16": ("<u2", 0x7C00),
    "BF16": ("<u2", 0x7F80),
    "F8_E5M2": ("u1", 0x7C),
    "F8_E4M3": ("u1", 0x7F),  # the "fn" variant: no Inf, NaN is S.1111.111
}
_HEADER_LIMIT = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


def nonfinite_tensors(weights: Path) -> list[str]:
    """Names of the tensors of the safetensors file ``weights`` that hold a NaN or an Inf, sorted."""
    with open(weights, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        if size > _HEADER_LIMIT:
            raise ValueError(f"header of {size} bytes")
        header = json.loads(fh.read(size))
    start = 8 + size
    if Path(weights).stat().st_size <= start:
        return []
    data = np.memmap(weights, dtype=np.uint8, mode="r", offset=start)
    bad = []
    for name, info in header.items():
        if name == "__metadata__" or info.get("dtype") not in _EXPONENT_MASKS:
            continue
        view, mask = _EXPONENT_MASKS[info["dtype"]]
        begin, end = info["data_offsets"]
        values = data[begin:end].view(view)
        if np.any((values & mask) == mask):
            bad.append(name)
    return sorted(bad)


def check_finite_weights(weights: Path, field: str = "path") -> None:
    """InvalidArgument naming the first tensors with NaN or Inf values (or when the file cannot be read)."""
    try:
        bad = nonfinite_tensors(weights)
    except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise InvalidArgument(f"{weights.name} cannot be checked for finite values ({type(exc).__name__})",
                              field=field) from None
    if bad:
        shown = ", ".join(quote(name, 80) for name in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise InvalidArgument(f"{weights.name}: tensor(s) {shown}{more} hold NaN or Inf values; an adapter with "
                              "non-finite weights is never registered", field=field)
