"""Settings: environment variables, flag overrides, validation, README's table."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lorafleet.config import LOG_FORMATS, QUANTIZATIONS, Settings, setting_specs, settings_doc_table
from lorafleet.errors import InvalidArgument

README = Path(__file__).resolve().parents[2] / "README.md"
SPECS = {spec.name: spec for spec in setting_specs()}
POSITIVE = ("max_batch_size", "adapter_slots", "adapter_host_cache", "max_adapter_rank", "max_new_tokens_limit",
            "default_max_tokens", "max_queue", "max_message_bytes", "live_report_queue", "http_max_body_bytes",
            "trainer_resume_every_steps", "trainer_resume_keep", "stream_interval")
NON_NEGATIVE = ("shadow_max_waiting", "http_port", "prefix_cache_mb")
FRACTIONS = ("live_sample_rate",)
POSITIVE_FLOATS = ("trainer_resume_every_seconds",)
WINDOW = "admission_window_ms"  # in [0, 100]
INTS = sorted(name for name, spec in SPECS.items() if spec.type is int)
UNBOUNDED_INTS = sorted(set(INTS) - set(POSITIVE) - set(NON_NEGATIVE))
FLOATS = sorted(name for name, spec in SPECS.items() if spec.type is float)
UNBOUNDED_FLOATS = sorted(set(FLOATS) - set(FRACTIONS) - set(POSITIVE_FLOATS) - {WINDOW})


def _not_parsed_by(convert) -> st.SearchStrategy[str]:
    def rejected(raw: str) -> bool:
        try:
            convert(raw)
        except ValueError:
            return True
        return False

    return st.text().filter(rejected)


def test_defaults_derive_paths_from_home(tmp_path: Path) -> None:
    s = Settings.from_env({"LORAFLEET_HOME": str(tmp_path)})
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'registry.db'}"
    assert s.resolved_artifacts_dir == tmp_path / "artifacts"
    assert s.resolved_inference_address == "127.0.0.1:50052"
    assert s.resolved_eval_address == "127.0.0.1:50053"


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


def test_readme_configuration_table_is_the_generated_one() -> None:
    """README.md's table is exactly ``python -m lorafleet.config``; regenerate it when this fails."""
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    assert table == settings_doc_table()


def test_setting_specs_describe_every_field() -> None:
    assert list(SPECS) == list(Settings.model_fields)
    assert all(spec.description for spec in SPECS.values())
    assert SPECS["trainer_port"].type is int and SPECS["trainer_port"].default == 50051
    assert SPECS["grace_period_s"].type is float and SPECS["home"].type is Path
    assert SPECS["max_batch_size"].env_name == "LORAFLEET_MAX_BATCH_SIZE"


@given(st.sampled_from(UNBOUNDED_INTS), st.integers(), st.sampled_from(["", " ", "\t"]))
def test_integer_env_values_round_trip(name: str, value: int, pad: str) -> None:
    settings = Settings.from_env({SPECS[name].env_name: f"{pad}{value}{pad}"})
    assert getattr(settings, name) == value


@given(st.sampled_from(UNBOUNDED_FLOATS), st.floats(allow_nan=False))
def test_float_env_values_round_trip(name: str, value: float) -> None:
    assert getattr(Settings.from_env({SPECS[name].env_name: repr(value)}), name) == value


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_the_admission_window_is_kept_in_0_to_100_ms(value: float) -> None:
    raw = {"LORAFLEET_ADMISSION_WINDOW_MS": repr(value)}
    if 0 <= value <= 100:
        assert Settings.from_env(raw).admission_window_ms == value
    else:
        with pytest.raises(InvalidArgument, match=WINDOW):
            Settings.from_env(raw)


@given(st.integers(-5, 200))
def test_the_stream_interval_is_kept_in_1_to_64_tokens(value: int) -> None:
    raw = {"LORAFLEET_STREAM_INTERVAL": str(value)}
    if 1 <= value <= 64:
        assert Settings.from_env(raw).stream_interval == value
    else:
        with pytest.raises(InvalidArgument, match="stream_interval"):
            Settings.from_env(raw)


@pytest.mark.parametrize("raw", ["0", "-1", "nan"])
def test_resume_cadence_must_be_positive(raw: str) -> None:
    with pytest.raises(InvalidArgument, match="trainer_resume_every_seconds"):
        Settings.from_env({"LORAFLEET_TRAINER_RESUME_EVERY_SECONDS": raw})


def test_float_env_accepts_nan() -> None:
    assert math.isnan(Settings.from_env({"LORAFLEET_ALIAS_POLL_S": "nan"}).alias_poll_s)


@given(st.sampled_from(INTS), _not_parsed_by(int))
def test_non_integer_env_values_name_the_field(name: str, raw: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        Settings.from_env({SPECS[name].env_name: raw})
    assert err.value.field == name and "is not a valid int" in err.value.message


@given(st.sampled_from(FLOATS), _not_parsed_by(float))
def test_non_float_env_values_name_the_field(name: str, raw: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        Settings.from_env({SPECS[name].env_name: raw})
    assert err.value.field == name and "is not a valid float" in err.value.message


@given(st.sampled_from(POSITIVE), st.integers(max_value=0))
def test_counts_below_one_name_the_field(name: str, value: int) -> None:
    with pytest.raises(InvalidArgument) as err:
        Settings.from_env({SPECS[name].env_name: str(value)})
    assert err.value.field == name and err.value.message == "must be >= 1"


@given(st.sampled_from(NON_NEGATIVE), st.integers())
def test_non_negative_counts_name_the_field(name: str, value: int) -> None:
    if value >= 0:
        assert getattr(Settings.from_env({SPECS[name].env_name: str(value)}), name) == value
        return
    with pytest.raises(InvalidArgument) as err:
        Settings.from_env({SPECS[name].env_name: str(value)})
    assert err.value.field == name and err.value.message == "must be >= 0"


@given(st.sampled_from(FRACTIONS), st.floats())
def test_fractions_accept_zero_to_one_only(name: str, value: float) -> None:
    env = {SPECS[name].env_name: repr(value)}
    if 0.0 <= value <= 1.0:
        assert getattr(Settings.from_env(env), name) == value
        return
    with pytest.raises(InvalidArgument) as err:
        Settings.from_env(env)
    assert err.value.field == name and "must be in [0, 1]" in err.value.message


def test_online_evaluation_settings(tmp_path: Path) -> None:
    s = Settings.from_env({"LORAFLEET_HOME": str(tmp_path), "LORAFLEET_HOST": "0.0.0.0", "LORAFLEET_EVAL_PORT": "6003"})
    assert s.resolved_eval_address == "127.0.0.1:6003"
    assert (s.live_sample_rate, s.live_report_queue, s.shadow_max_waiting) == (0.05, 10000, 32)
    assert Settings(eval_address="lorafleet-eval:50053").resolved_eval_address == "lorafleet-eval:50053"


@given(st.sampled_from([("quantization", QUANTIZATIONS), ("log_format", LOG_FORMATS)]), st.text())
def test_choices_reject_anything_else(setting: tuple[str, tuple[str, ...]], raw: str) -> None:
    name, choices = setting
    env = {SPECS[name].env_name: raw}
    if raw in choices:
        assert getattr(Settings.from_env(env), name) == raw
    else:
        with pytest.raises(InvalidArgument) as err:
            Settings.from_env(env)
        assert err.value.field == name


@given(st.integers(), st.integers() | st.none())
def test_flags_win_over_the_environment_unless_none(env_value: int, flag: int | None) -> None:
    settings = Settings.from_env({"LORAFLEET_EVAL_PORT": str(env_value)}, eval_port=flag)
    assert settings.eval_port == (env_value if flag is None else flag)


def test_only_from_env_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORAFLEET_TRAINER_PORT", "6001")
    assert Settings().trainer_port == 50051
    assert Settings.from_env().trainer_port == 6001
    assert Settings.from_env({}).trainer_port == 50051


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Settings(trainer_port="x"), "trainer_port"),
        (lambda: Settings(bogus=1), "bogus"),
        (lambda: Settings().replace(quantization="fp8"), "quantization"),
        (lambda: Settings().replace(tls_key="/k.pem"), "tls_cert"),
        (lambda: Settings.from_env({}, max_queue=0), "max_queue"),
    ],
)
def test_construction_and_replace_raise_invalid_argument(build, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        build()
    assert err.value.field == field


def test_replace_keeps_the_other_values(tmp_path: Path) -> None:
    base = Settings(home=tmp_path, quantization="none")
    changed = base.replace(trainer_port=7001)
    assert changed.trainer_port == 7001 and changed.home == tmp_path and changed.quantization == "none"
    assert base.trainer_port == 50051 and changed != base
