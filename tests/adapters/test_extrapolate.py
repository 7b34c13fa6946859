"""extrapolate: each part's update scaled as stated, served unchanged by PEFT, and every bad input refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load_file

from lorafleet.adapters.extrapolate import MAX_FACTOR, PROVENANCE_FILE, Factors, extrapolate
from lorafleet.adapters.peft_dir import CONFIG_FILE, WEIGHTS_FILE, inspect_adapter
from lorafleet.adapters.synthetic import write_lora_adapter
from lorafleet.cli.main import main as cli_main
from lorafleet.errors import InvalidArgument

ALL = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@pytest.fixture()
def adapter(base_spec, tmp_path: Path) -> Path:
    return write_lora_adapter(tmp_path / "src", base_spec, r=4, alpha=8.0, target_modules=ALL, seed=3)


def _delta_weights(base_dir: Path, adapter_dir: Path) -> dict[str, torch.Tensor]:
    """PEFT's own ΔW = (α/r)·B·A per adapted module."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base_dir)), str(adapter_dir))
    return {name: mod.get_delta_weight("default").detach() for name, mod in model.named_modules()
            if hasattr(mod, "get_delta_weight") and "default" in getattr(mod, "lora_A", {})}


def test_each_part_gets_its_factor_as_peft_serves_it(adapter, tiny_base, base_spec, tmp_path):
    out = tmp_path / "x"
    assert extrapolate(adapter, out, Factors(mlp=1.5, attention=1.2)) == {"mlp": 3 * 2, "attention": 4 * 2}
    before, after = _delta_weights(tiny_base, adapter), _delta_weights(tiny_base, out)
    assert before.keys() == after.keys() and len(before) == 7 * 2
    for name, delta in before.items():
        factor = 1.5 if name.rsplit(".", 1)[-1] in ("gate_proj", "up_proj", "down_proj") else 1.2
        torch.testing.assert_close(after[name], factor * delta, rtol=1e-6, atol=1e-9)
    a_in, a_out = load_file(str(adapter / WEIGHTS_FILE)), load_file(str(out / WEIGHTS_FILE))
    assert all(torch.equal(a_in[k], a_out[k]) for k in a_in if "lora_A" in k)
    inspect_adapter(out, base_spec)  # still a servable adapter for the same base
    assert json.loads((out / PROVENANCE_FILE).read_text()) == {"mlp": 1.5, "attention": 1.2, "source": str(adapter)}
    assert (out / CONFIG_FILE).read_bytes() == (adapter / CONFIG_FILE).read_bytes()


def test_extrapolating_again_multiplies_and_keeps_the_history(adapter, tmp_path):
    extrapolate(adapter, tmp_path / "x1", Factors(mlp=2.0))
    extrapolate(tmp_path / "x1", tmp_path / "x2", Factors(mlp=1.5, attention=0.5))
    src, twice = load_file(str(adapter / WEIGHTS_FILE)), load_file(str(tmp_path / "x2" / WEIGHTS_FILE))
    for key, b in src.items():
        if "lora_B" in key:
            torch.testing.assert_close(twice[key], b * (3.0 if ".mlp." in key else 0.5))
    record = json.loads((tmp_path / "x2" / PROVENANCE_FILE).read_text())
    assert record["previous"]["mlp"] == 2.0 and record["attention"] == 0.5


def test_an_existing_target_is_refused_and_left_alone(adapter, tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(InvalidArgument) as err:
        extrapolate(adapter, target, Factors(mlp=1.5))
    assert err.value.field == "out" and "exists" in err.value.message
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_an_unwritable_target_is_refused_with_nothing_left_behind(adapter, tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(InvalidArgument) as err:
        extrapolate(adapter, tmp_path / "a-file" / "out", Factors(mlp=1.5))
    assert err.value.field == "out" and "cannot write" in err.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "src"]


def test_a_directory_that_is_not_an_adapter_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument) as err:
        extrapolate(tmp_path / "empty", tmp_path / "out", Factors())
    assert err.value.field == "path" and "adapter_config.json" in err.value.message
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()


def test_an_unservable_adapter_is_refused(base_spec, tmp_path):
    src = write_lora_adapter(tmp_path / "dora", base_spec, target_modules=ALL, extra_config={"use_dora": True})
    with pytest.raises(InvalidArgument) as err:
        extrapolate(src, tmp_path / "out", Factors(mlp=1.5))
    assert err.value.field == "path" and "use_dora" in err.value.message


@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["mlp", "attention"]))
def test_factors_outside_the_range_are_refused_with_their_field(value, field):
    valid = math.isfinite(value) and 0.0 < value <= MAX_FACTOR
    if valid:
        assert getattr(Factors(**{field: value}), field) == value
    else:
        with pytest.raises(InvalidArgument) as err:
            Factors(**{field: value})
        assert err.value.field == field


def test_the_command_writes_the_adapter_and_reports_bad_input(adapter, tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli_main(["extrapolate", str(adapter), "--out", str(out), "--mlp", "1.5", "--attention", "1.2"]) == 0
    assert "MLP update x1.5 (6 modules), attention update x1.2 (8 modules)" in capsys.readouterr().out
    assert (out / WEIGHTS_FILE).is_file()
    assert cli_main(["extrapolate", str(adapter), "--out", str(tmp_path / "bad"), "--mlp", "0"]) == 2
    assert "mlp: mlp factor must be a finite number in (0, 4]" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
