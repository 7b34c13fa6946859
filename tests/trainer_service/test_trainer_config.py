"""Job config validation names the bad field; learning-rate schedules follow their formulas."""

from __future__ import annotations

import math

import pytest

from lorafleet.errors import InvalidArgument
from trainer_service.training.config import TrainingConfig, lr_at

LINEARS = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


def _cfg(**kw) -> TrainingConfig:
    return TrainingConfig(**{"adapter_name": "bot", "training_dataset_id": "ds-0123456789abcdef", **kw})


@pytest.mark.parametrize("changes, field", [
    ({"r": 0}, "lora.r"),
    ({"alpha": 0.0}, "lora.alpha"),
    ({"dropout": 1.0}, "lora.dropout"),
    ({"learning_rate": -1e-4}, "hyperparameters.learning_rate"),
    ({"learning_rate": float("nan")}, "hyperparameters.learning_rate"),
    ({"epochs": 0}, "hyperparameters.epochs"),
    ({"batch_size": 0}, "hyperparameters.batch_size"),
    ({"lr_scheduler": "step"}, "hyperparameters.lr_scheduler"),
    ({"target_modules": ("q_proj", "qkv_proj")}, "lora.target_modules"),
    ({"target_modules": ("all-linear", "q_proj")}, "lora.target_modules"),
    ({"target_modules": ()}, "lora.target_modules"),
    ({"adapter_method": "dora"}, "adapter_method"),
    ({"adapter_name": "Bad Name!"}, "adapter_name"),
    ({"training_dataset_id": ""}, "training_dataset_id"),
    ({"training_dataset_path": "/data/x.jsonl"}, "training_dataset_id"),
    ({"validation_split": 0.1, "validation_dataset_id": "ds-1"}, "validation_split"),
    ({"max_seq_length": 4}, "hyperparameters.max_seq_length"),
    ({"compute_dtype": "float16"}, "hyperparameters.compute_dtype"),
])
def test_bad_values_name_their_field(changes, field) -> None:
    with pytest.raises(InvalidArgument) as err:
        _cfg(**changes).validate(LINEARS)
    assert err.value.field == field


def test_good_config_validates_and_round_trips() -> None:
    cfg = _cfg(target_modules=("q_proj", "v_proj"), use_rslora=True, r=4, alpha=8)
    assert cfg.validate(LINEARS) is cfg
    assert TrainingConfig.from_dict(__import__("json").loads(cfg.to_json())) == cfg
    assert cfg.scale == pytest.approx(8 / math.sqrt(4))
    assert _cfg(r=4, alpha=8).scale == pytest.approx(2.0)


def test_schedules() -> None:
    cfg = _cfg(learning_rate=1.0, warmup_steps=2, lr_scheduler="cosine")
    assert [lr_at(s, 12, cfg) for s in (0, 1)] == [0.5, 1.0]
    assert lr_at(2, 12, cfg) == pytest.approx(1.0)
    assert lr_at(7, 12, cfg) == pytest.approx(0.5)  # halfway through the 10 decay steps
    assert lr_at(12, 12, cfg) == pytest.approx(0.0, abs=1e-12)
    lin = _cfg(learning_rate=1.0, warmup_ratio=0.0, lr_scheduler="linear")
    assert [round(lr_at(s, 4, lin), 6) for s in range(4)] == [1.0, 0.75, 0.5, 0.25]
    const = _cfg(learning_rate=0.1, warmup_ratio=0.5, lr_scheduler="constant")
    assert [round(lr_at(s, 4, const), 6) for s in range(4)] == [0.05, 0.1, 0.1, 0.1]


def test_construction_raises_invalid_argument_naming_the_api_field_not_a_pydantic_error() -> None:
    with pytest.raises(InvalidArgument) as err:
        _cfg(batch_size="many")
    assert err.value.field == "hyperparameters.batch_size"
    with pytest.raises(InvalidArgument) as err:
        _cfg(colour="red")
    assert err.value.field == "colour"
    with pytest.raises(InvalidArgument) as err:
        TrainingConfig.from_dict({**_cfg().model_dump(), "colour": "red"})
    assert err.value.field == "colour"


def test_validate_rechecks_a_copy_made_without_validation() -> None:
    bad = _cfg().model_copy(update={"r": 0})
    with pytest.raises(InvalidArgument) as err:
        bad.validate(LINEARS)
    assert err.value.field == "lora.r"


def test_every_field_is_documented() -> None:
    assert all(f.description for f in TrainingConfig.model_fields.values())
    assert TrainingConfig.model_fields["r"].metadata  # its range travels with it (ge=1, le=1024)
