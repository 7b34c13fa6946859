"""``lorafleet adapters ...`` against a real server: JSON round trips, human tables, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lorafleet_testkit import free_port, subprocess_env

from lorafleet.cli.main import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_then_list_json_round_trip_through_the_entry_point(registry_server, tiny_adapter_dir):
    entry = Path(sys.executable).with_name("lorafleet")
    command = [str(entry)] if entry.exists() else [sys.executable, "-m", "lorafleet"]
    env = subprocess_env({"LORAFLEET_INFERENCE_ADDRESS": registry_server.address})

    imported = subprocess.run([*command, "adapters", "import", str(tiny_adapter_dir), "--name", "support-bot",
                               "--description", "from the cli", "--metric", "accuracy=0.9", "--json"],
                              env=env, capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    adapter = json.loads(imported.stdout)["adapter"]
    assert (adapter["name"], adapter["version"], adapter["state"]) == ("support-bot", 1, "ADAPTER_STATE_CANDIDATE")
    assert adapter["description"] == "from the cli" and adapter["metrics"] == {"accuracy": 0.9}
    assert adapter["lineage"]["imported_from"] == str(tiny_adapter_dir)

    listed = subprocess.run([*command, "adapters", "list", "--json"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0, listed.stderr
    adapters = json.loads(listed.stdout)["adapters"]
    assert adapters == [adapter]


def test_promote_rollback_show_delete(registry_server, tiny_adapter_dir, capsys):
    server = ["--server", registry_server.address]
    for _ in range(2):
        assert run_cli(capsys, "adapters", "import", str(tiny_adapter_dir), "--name", "bot", *server)[0] == 0

    code, out, _ = run_cli(capsys, "adapters", "promote", "bot@1", "--reason", "ship it", "--json", *server)
    assert code == 0 and json.loads(out)["alias"]["version"] == 1 and json.loads(out)["previous_version"] == 0
    code, out, _ = run_cli(capsys, "adapters", "promote", "bot@2", *server)
    assert code == 0 and "bot@production -> version 2 (was 1)" in out
    code, out, _ = run_cli(capsys, "adapters", "rollback", "bot", "--json", *server)
    assert code == 0 and (json.loads(out)["alias"]["version"], json.loads(out)["previous_version"]) == (1, 2)

    code, out, _ = run_cli(capsys, "adapters", "show", "bot", "--json", *server)
    shown = json.loads(out)
    assert code == 0 and shown["adapter"]["version"] == 1 and shown["adapter"]["aliases"] == ["production"]
    assert [(h["from_version"], h["to_version"]) for h in shown["alias_history"]] == [(0, 1), (1, 2), (2, 1)]
    assert shown["alias_history"][0]["reason"] == "ship it"

    code, out, _ = run_cli(capsys, "adapters", "show", "bot@2", *server)
    assert code == 0 and "bot@2" in out and "CANDIDATE" in out

    code, out, _ = run_cli(capsys, "adapters", "list", "--name", "bot", *server)
    assert code == 0 and out.count("bot") >= 2 and "production" in out

    code, _, err = run_cli(capsys, "adapters", "delete", "bot@1", *server)
    assert code == 2 and err.startswith("error: FAILED_PRECONDITION: ")
    code, out, _ = run_cli(capsys, "adapters", "delete", "bot@2", "--json", *server)
    assert code == 0 and json.loads(out)["adapter"]["version"] == 2
    code, out, _ = run_cli(capsys, "adapters", "list", "--json", *server)
    assert [a["version"] for a in json.loads(out)["adapters"]] == [1]


def test_list_filters_by_state(registry_server, tiny_adapter_dir, capsys):
    server = ["--server", registry_server.address]
    assert run_cli(capsys, "adapters", "import", str(tiny_adapter_dir), "--name", "bot", *server)[0] == 0
    code, out, _ = run_cli(capsys, "adapters", "list", "--state", "PROMOTED", "--json", *server)
    assert code == 0 and json.loads(out) == {"adapters": []}
    code, out, _ = run_cli(capsys, "adapters", "list", "--state", "candidate", "--json", *server)
    assert [a["name"] for a in json.loads(out)["adapters"]] == ["bot"]
    code, out, _ = run_cli(capsys, "adapters", "list", "--name", "nobody", *server)
    assert code == 0 and "no adapter versions" in out


@pytest.mark.parametrize("args,code_name", [
    (["adapters", "show", "missing"], "NOT_FOUND"),
    (["adapters", "show", "missing@7"], "NOT_FOUND"),
    (["adapters", "promote", "bot"], "INVALID_ARGUMENT"),  # no explicit version
    (["adapters", "promote", "bot@1", "--alias", "9lives"], "INVALID_ARGUMENT"),
    (["adapters", "rollback", "Bad Name"], "INVALID_ARGUMENT"),
    (["adapters", "delete", "bot@production"], "INVALID_ARGUMENT"),
    (["adapters", "import", "/definitely/not/here", "--name", "bot"], None),  # the server names the problem
])
def test_bad_input_exits_2_with_the_status(registry_server, capsys, args, code_name):
    code, out, err = run_cli(capsys, *args, "--server", registry_server.address)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    if code_name:
        assert err.startswith(f"error: {code_name}: ")


def test_unreachable_server_exits_1(capsys):
    code, _, err = run_cli(capsys, "adapters", "list", "--server", f"127.0.0.1:{free_port()}", "--timeout", "20")
    assert code == 1 and err.startswith("error: UNAVAILABLE: ")


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as usage:
        main(["adapters", "import", "/x"])  # --name is required
    assert usage.value.code == 2
    assert "--name" in capsys.readouterr().err
