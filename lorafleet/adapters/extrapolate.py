"""Extrapolating a trained LoRA update, part by part (ExPO's model extrapolation, applied to an adapter).

For every adapted projection the served weight is ``W' = W + (α/r)·B·A``. Extrapolation multiplies the
update by a factor ``s``: ``W' = W + s·(α/r)·B·A``, written as ``B ← s·B`` so that any LoRA server (PEFT,
this engine, vLLM) serves it unchanged. ``s = 1`` is the trained adapter, ``0 < s < 1`` interpolates toward
the base (WiSE-FT), ``s > 1`` moves further along the direction training took (ExPO, Zheng et al. 2024).
Here the factor depends on the part of the transformer block: ``s_mlp`` for ``gate_proj``/``up_proj``/
``down_proj``, ``s_attn`` for ``q_proj``/``k_proj``/``v_proj``/``o_proj``.

Why per part (issue #14, ``benchmarks/adapter_edits.py``; README, "Training recipes"): on SmolLM2-135M a
demo-sized safety adapter learns refusals that a uniform ``s = 1.4`` makes reliable (harmful requests
refused 0.79 → 0.91) at a cost in general knowledge (0.975 → 0.950). The refusals live mostly in the MLP
update and the forgetting is spread over both parts, so ``s_mlp = 1.5, s_attn = 1.2`` refused 0.936 of
harmful requests and kept general at 0.975, on the full suites as served.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from lorafleet.adapters.lora import split_weight_name
from lorafleet.adapters.peft_dir import WEIGHTS_FILE, lora_spec_from_config, read_adapter_config
from lorafleet.errors import InvalidArgument

MLP_PROJECTIONS = frozenset({"gate_proj", "up_proj", "down_proj"})
ATTENTION_PROJECTIONS = frozenset({"q_proj", "k_proj", "v_proj", "o_proj"})
MAX_FACTOR = 4.0  # past this the update dominates the base weights; no measured use
PROVENANCE_FILE = "lorafleet_extrapolation.json"


@dataclass(frozen=True)
class Factors:
    """The update's factor on the MLP projections and on the attention projections."""

    mlp: float = 1.0
    attention: float = 1.0

    def __post_init__(self) -> None:
        for field, value in (("mlp", self.mlp), ("attention", self.attention)):
            if not (math.isfinite(value) and 0.0 < value <= MAX_FACTOR):
                raise InvalidArgument(f"{field} factor must be a finite number in (0, {MAX_FACTOR:g}], got {value!r}",
                                      field=field)

    @staticmethod
    def part_or_none(module: str) -> str | None:
        """``"mlp"`` or ``"attention"``: the part of the block a module name or path belongs to, judged by its
        last name (``model.layers.3.mlp.up_proj`` -> ``"mlp"``), which is also the name of its factor; None
        for any other module (an LM head, a fused ``qkv_proj``)."""
        leaf = module.rsplit(".", 1)[-1]
        return "mlp" if leaf in MLP_PROJECTIONS else "attention" if leaf in ATTENTION_PROJECTIONS else None

    @staticmethod
    def part(module: str) -> str:
        """``part_or_none``, refusing a module that is neither part."""
        part = Factors.part_or_none(module)
        if part is not None:
            return part
        raise InvalidArgument(f"module {module!r} is neither an MLP nor an attention projection of a Llama-style "
                              "block; extrapolation by part does not know its factor", field="path")


def extrapolate(source: Path, target: Path, factors: Factors) -> dict[str, int]:
    """Write ``source`` (a PEFT LoRA directory) to ``target`` with each module's ``lora_B`` times its factor.

    ``target`` must not exist. Next to the copied config, ``lorafleet_extrapolation.json`` records the factors,
    the source and any earlier record, so a reader can tell an extrapolated adapter from a trained one (a file
    of its own: PEFT warns on keys of ``adapter_config.json`` it does not know).
    Returns how many modules each factor touched. Errors are InvalidArgument naming the field.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    source, target = Path(source), Path(target)
    if target.exists():
        raise InvalidArgument(f"{target} exists; choose a new directory", field="out")
    cfg = read_adapter_config(source)
    lora_spec_from_config(source, cfg)  # refuses what cannot be served (DoRA, patterns, ...)
    weights = source / WEIGHTS_FILE
    if not weights.is_file():
        raise InvalidArgument(f"{source}: no {WEIGHTS_FILE}", field="path")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise InvalidArgument(f"{weights}: unreadable safetensors file: {exc}", field="path") from exc
    touched = {"mlp": 0, "attention": 0}
    out = {}
    for key, tensor in tensors.items():
        parsed = split_weight_name(key)
        if parsed is None:
            raise InvalidArgument(f"{weights}: tensor {key!r} is not a LoRA A or B weight", field="path")
        module, which = parsed
        part = Factors.part(module)
        if which == "B":
            out[key] = (tensor.float() * getattr(factors, part)).to(tensor.dtype).contiguous()
            touched[part] += 1
        else:
            out[key] = tensor
    record = {"mlp": factors.mlp, "attention": factors.attention, "source": str(source)}
    if (source / PROVENANCE_FILE).is_file():
        record["previous"] = json.loads((source / PROVENANCE_FILE).read_text(encoding="utf-8"))
    staging = target.with_name(f".{target.name}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        (staging / PROVENANCE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        save_file(out, str(staging / WEIGHTS_FILE))
        staging.rename(target)  # all or nothing: a failed run leaves no half-written adapter at target
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise InvalidArgument(f"cannot write {target}: {exc}", field="out") from exc
    return touched


def recorded_factors(path: Path) -> tuple[float, float] | None:
    """(MLP, attention) factors the adapter in ``path`` was extrapolated by since training, multiplied over
    its chain of records; None for an adapter as trained. Dividing each ``lora_B`` by its part's factor gives
    the trained update back (up to rounding), which is where a job that continues the adapter starts."""
    record_file = Path(path) / PROVENANCE_FILE
    if not record_file.is_file():
        return None
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
        mlp = attention = 1.0
        while record:
            mlp, attention = mlp * float(record["mlp"]), attention * float(record["attention"])
            record = record.get("previous")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(f"{record_file}: unreadable extrapolation record: {exc}", field="path") from exc
    if not (math.isfinite(mlp) and math.isfinite(attention) and mlp > 0 and attention > 0):
        raise InvalidArgument(f"{record_file}: factors {mlp!r}, {attention!r} are not positive", field="path")
    return mlp, attention
