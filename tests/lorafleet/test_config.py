"""Settings: environment variables, flag overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lorafleet.config import Settings, setting_specs, settings_doc_table
from lorafleet.errors import InvalidArgument


def test_defaults_derive_paths_from_home(tmp_path: Path) -> None:
    s = Settings.from_env({"LORAFLEET_HOME": str(tmp_path)})
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'registry.db'}"
    assert s.resolved_artifacts_dir == tmp_path / "artifacts"
    assert s.resolved_inference_address == "127.0.0.1:50052"


def test_env_is_coerced_and_flags_win(tmp_path: Path) -> None:
    env = {"LORAFLEET_HOME": str(tmp_path), "LORAFLEET_INFERENCE_PORT": "6000", "LORAFLEET_GRACE_PERIOD_S": "2.5",
           "LORAFLEET_AUTH_TOKENS": "a, b:read ,"}
    s = Settings.from_env(env, inference_port=7000)
    assert s.inference_port == 7000 and s.grace_period_s == 2.5
    assert s.auth_token_list == ["a", "b:read"]


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"LORAFLEET_INFERENCE_PORT": "x"}, "inference_port"),
        ({"LORAFLEET_QUANTIZATION": "fp8"}, "quantization"),
        ({"LORAFLEET_TLS_CERT": "/c.pem"}, "tls_cert"),
        ({"LORAFLEET_MAX_BATCH_SIZE": "0"}, "max_batch_size"),
        ({"LORAFLEET_DEFAULT_MAX_TOKENS": "5000"}, "default_max_tokens"),
    ],
)
def test_bad_settings_name_the_field(env: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        Settings.from_env(env)
    assert err.value.field == field


@given(st.text())
def test_integer_settings_accept_only_integers(raw: str) -> None:
    try:
        expected = int(raw)
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(InvalidArgument):
            Settings.from_env({"LORAFLEET_TRAINER_PORT": raw})
    else:
        assert Settings.from_env({"LORAFLEET_TRAINER_PORT": raw}).trainer_port == expected


def test_doc_table_lists_every_variable() -> None:
    table = settings_doc_table()
    assert "`LORAFLEET_DATABASE_URL`" in table and "`LORAFLEET_AUTH_TOKENS`" in table
    assert table.count("\n") == len(setting_specs()) + 1
