"""``lorafleet train`` / ``lorafleet jobs`` against a real trainer on loopback."""

from __future__ import annotations

import argparse
import json

import grpc
import pytest
from trainer_testkit import jsonl

from lorafleet.cli.train import register
from lorafleet.errors import InvalidArgument


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
                      "--answer-start-weight", "3", "--answer-start-tokens", "4", "--anchor-weight", "0.5",
                      "--server", server.address], capsys)
    job = json.loads(out)
    assert code == 0 and job["state"] == "JOB_STATE_SUCCEEDED" and job["adapter_version"] == 1
    assert job["config"]["lora"]["r"] == 4 and job["config"]["adapter_method"] == "ADAPTER_METHOD_LORA"
    assert job["config"]["hyperparameters"]["compute_dtype"] == "COMPUTE_DTYPE_FLOAT32"
    assert (job["config"]["hyperparameters"]["answer_start_weight"],
            job["config"]["hyperparameters"]["answer_start_tokens"],
            job["config"]["hyperparameters"]["anchor_weight"]) == (3.0, 4, 0.5)
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


def test_train_dpo_from_the_command_line(server, toy_records, preference_records, tmp_path, capsys) -> None:
    sft, pairs = tmp_path / "toy.jsonl", tmp_path / "pairs.jsonl"
    sft.write_bytes(jsonl(toy_records))
    pairs.write_bytes(jsonl(preference_records))
    code, out = _run(["train", str(sft), "--name", "cli-dpo", "--method", "lora", "-r", "4", "--max-steps", "1",
                      "--json", "--server", server.address], capsys)
    assert code == 0 and json.loads(out)["config"]["method"] == "TRAINING_METHOD_SFT"
    code, out = _run(["train", str(pairs), "--name", "cli-dpo", "--method", "dpo", "--adapter-method", "lora",
                      "--init-from", "cli-dpo@1", "--beta", "0.3", "--loss-type", "ipo", "--best-metric", "margin",
                      "--validation-split", "0.25", "--epochs", "1", "--server", server.address], capsys)
    assert code == 0 and "SUCCEEDED" in out and "margin" in out and "cli-dpo@2" in out
    code, out = _run(["jobs", "list", "--json", "--server", server.address], capsys)
    dpo = json.loads(out)["jobs"][0]
    assert dpo["config"]["method"] == "TRAINING_METHOD_DPO" and dpo["config"]["init_from"] == "cli-dpo@1"
    assert dpo["config"]["dpo"]["loss_type"] == "DPO_LOSS_TYPE_IPO" and dpo["config"]["lora"]["r"] == 4
    with pytest.raises(InvalidArgument) as err:
        _run(["train", str(sft), "--name", "cli-dpo", "--beta", "0.3", "--server", server.address], capsys)
    assert err.value.field == "method"
