"""``lorafleet train`` / ``lorafleet jobs`` against a real trainer on loopback."""

from __future__ import annotations

import argparse
import json

import grpc
import pytest
from trainer_testkit import jsonl

from lorafleet.cli.train import register


def _run(argv: list[str], capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="lorafleet")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


def test_train_json_then_jobs_list_show_cancel(server, toy_records, tmp_path, capsys) -> None:
    data = tmp_path / "toy.jsonl"
    data.write_bytes(jsonl(toy_records))
    code, out = _run(["train", str(data), "--name", "cli-bot", "--method", "lora", "-r", "4", "--epochs", "1",
                      "--lr", "0.01", "--validation-split", "0.2", "--compute-dtype", "float32", "--json",
                      "--server", server.address], capsys)
    job = json.loads(out)
    assert code == 0 and job["state"] == "JOB_STATE_SUCCEEDED" and job["adapter_version"] == 1
    assert job["config"]["lora"]["r"] == 4 and job["config"]["adapter_method"] == "ADAPTER_METHOD_LORA"
    assert job["config"]["hyperparameters"]["compute_dtype"] == "COMPUTE_DTYPE_FLOAT32"
    code, out = _run(["jobs", "list", "--json", "--server", server.address], capsys)
    assert [j["id"] for j in json.loads(out)["jobs"]] == [job["id"]]
    code, out = _run(["jobs", "show", job["id"], "--server", server.address], capsys)
    assert code == 0 and job["id"] in out and "cli-bot@1" in out
    with pytest.raises(grpc.RpcError) as err:
        _run(["jobs", "cancel", job["id"], "--server", server.address], capsys)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_train_with_progress_bar_and_bad_flag(server, toy_records, tmp_path, capsys) -> None:
    data = tmp_path / "toy.jsonl"
    data.write_bytes(jsonl(toy_records))
    code, out = _run(["train", str(data), "--name", "bar-bot", "--method", "lora", "--max-steps", "2",
                      "--server", server.address], capsys)
    assert code == 0 and "uploaded toy.jsonl" in out and "SUCCEEDED" in out and "2/2" in out
    with pytest.raises(grpc.RpcError) as err:
        _run(["train", str(data), "--name", "bar-bot", "-r", "0", "--server", server.address], capsys)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("lora.r:")
