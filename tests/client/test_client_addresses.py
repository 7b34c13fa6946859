"""Each command reaches its own service: one function resolves every default address."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lorafleet.cli import evaluate, generate, train
from lorafleet.cli.client_args import client_from_args
from lorafleet.client.addresses import DEFAULT_PORTS, SERVICES, address_env, service_address
from lorafleet.config import Settings

INFERENCE = "10.0.0.7:6000"


def _fleet(register, argv: list[str], monkeypatch, env: dict[str, str]):
    for key in [k for k in __import__("os").environ if k.startswith("LORAFLEET_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return client_from_args(parser.parse_args(argv))


def test_eval_never_reaches_the_inference_port_by_accident(monkeypatch):
    # The README's old advice set one LORAFLEET_SERVER for everything; now only inference moves.
    fleet = _fleet(evaluate.register, ["eval", "bot@1"], monkeypatch, {address_env("inference"): INFERENCE})
    assert fleet.eval_address == "127.0.0.1:50053" != INFERENCE
    fleet = _fleet(train.register, ["jobs", "list"], monkeypatch, {address_env("inference"): INFERENCE})
    assert fleet.trainer_address == "127.0.0.1:50051"
    fleet = _fleet(generate.register, ["generate", "hi"], monkeypatch, {address_env("inference"): INFERENCE})
    assert fleet.address == INFERENCE


@pytest.mark.parametrize("register,argv,attr,service", [
    (evaluate.register, ["eval", "bot@1"], "eval_address", "eval"),
    (train.register, ["jobs", "list"], "trainer_address", "trainer"),
    (generate.register, ["generate", "hi"], "address", "inference"),
])
def test_server_flag_and_variable_apply_to_the_commands_own_service(monkeypatch, register, argv, attr, service):
    fleet = _fleet(register, [*argv, "--server", "h:1"], monkeypatch, {})
    assert getattr(fleet, attr) == "h:1"
    fleet = _fleet(register, argv, monkeypatch, {address_env(service): "h:2", "LORAFLEET_HOST": "h"})
    assert getattr(fleet, attr) == "h:2"
    fleet = _fleet(register, argv, monkeypatch, {"LORAFLEET_HOST": "0.0.0.0",
                                                  f"LORAFLEET_{service.upper()}_PORT": "7"})
    assert getattr(fleet, attr) == "127.0.0.1:7"  # a wildcard bind address is dialled on this machine


@given(ports=st.lists(st.integers(1, 65535), min_size=3, max_size=3, unique=True),
       host=st.sampled_from(["127.0.0.1", "localhost", "0.0.0.0", "10.1.2.3"]))
def test_distinct_ports_give_distinct_addresses_and_match_the_server_settings(ports, host):
    env = {"LORAFLEET_HOST": host, **{f"LORAFLEET_{s.upper()}_PORT": str(p) for s, p in zip(SERVICES, ports)}}
    addresses = {s: service_address(s, environ=env) for s in SERVICES}
    assert len(set(addresses.values())) == 3
    assert Settings.from_env(env).resolved_inference_address == addresses["inference"]


def test_defaults_and_bad_input():
    assert {s: service_address(s, environ={}) for s in SERVICES} == {
        s: f"127.0.0.1:{p}" for s, p in DEFAULT_PORTS.items()}
    with pytest.raises(ValueError, match="not a LoRAFleet service"):
        service_address("registry", environ={})
    with pytest.raises(ValueError, match="not a port number"):
        service_address("eval", environ={"LORAFLEET_EVAL_PORT": "x" * 1000})
