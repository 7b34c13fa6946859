"""``lorafleet eval NAME@VERSION [--promote-to production] [--suite S ...] [--json]``.

Queues an evaluation on the evaluator, follows it live (one progress bar per suite) and prints
the verdict, the per-suite comparison and every failed gate. Exit status: 0 when the candidate
passed every gate, 3 when it was rejected, 1 when the evaluation itself failed (e.g. inference
unreachable), 2 for bad input (as every lorafleet command). ``--no-wait`` only queues it.
The evaluator's address: ``--server``, else ``$LORAFLEET_EVAL_ADDRESS``, else host:eval_port.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_PROMOTE, EXIT_FAILED, EXIT_REJECT = 0, 1, 3


def register(subparsers: Any) -> None:
    from lorafleet.cli.client_args import client_parent

    p = subparsers.add_parser(
        "eval", parents=[client_parent("eval")],
        help="evaluate an adapter version against its baseline and gate promotion",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("ref", metavar="NAME@VERSION", nargs="?", help="candidate version, e.g. support-bot@3")
    p.add_argument("--promote-to", default="", metavar="ALIAS",
                   help="move this alias (e.g. production) to the candidate if every gate passes")
    p.add_argument("--suite", dest="suites", action="append", default=[], metavar="NAME",
                   help="suite to run (repeatable; default: every shipped suite)")
    p.add_argument("--baseline", default="production", metavar="production|base|NAME@VERSION",
                   help="compare against the production version (default; the base model when there is none), "
                        "the base model, or a version")
    p.add_argument("--policy", default="", help="shipped policy name or policy file path (default: default)")
    p.add_argument("--max-cases", type=int, default=0, metavar="N", help="at most N cases per suite (quick runs)")
    p.add_argument("--max-tokens", type=int, default=None, metavar="N",
                   help="generation length (default: the policy's)")
    p.add_argument("--no-wait", action="store_true", help="queue the evaluation and print its id")
    p.add_argument("--list-suites", action="store_true", help="list the evaluator's suites and exit")
    p.add_argument("--json", action="store_true", help="print the final evaluation as JSON (no live progress)")
    p.set_defaults(func=cmd_eval)


def _client(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from lorafleet.cli.client_args import client_from_args

    fleet = client_from_args(args)
    return fleet, fleet.evaluator


def _baseline(text: str) -> tuple[str, str]:
    if text in ("production", ""):
        return "production", ""
    if text in ("base", "base_model", "base-model"):
        return "base_model", ""
    return "adapter", text


def cmd_eval(args: argparse.Namespace) -> int:
    from lorafleet.cli.output import print_json

    fleet, client = _client(args)
    with fleet:
        if args.list_suites:
            return _list_suites(client, args)
        if not args.ref:
            from lorafleet.errors import InvalidArgument

            raise InvalidArgument("give the candidate as NAME@VERSION (or --list-suites)", field="adapter")
        baseline, baseline_adapter = _baseline(args.baseline)
        ev = client.create_evaluation(args.ref, suites=args.suites, baseline=baseline,
                                      baseline_adapter=baseline_adapter, policy=args.policy, promote_to=args.promote_to,
                                      max_cases_per_suite=max(args.max_cases, 0), max_tokens=args.max_tokens)
        if args.no_wait:
            print_json({"evaluation_id": ev.id}) if args.json else print(ev.id)
            return 0
        final = client.wait(ev.id) if args.json else _follow(client, ev)
        if args.json:
            print_json(final)
        else:
            _summary(final)
        return _exit_code(final)


def _exit_code(ev: Any) -> int:
    from lorafleet.v1 import eval_pb2

    if ev.state == eval_pb2.EVALUATION_STATE_FAILED:
        return EXIT_FAILED
    return EXIT_PROMOTE if ev.decision.verdict == eval_pb2.VERDICT_PROMOTE else EXIT_REJECT


def _follow(client: Any, ev: Any) -> Any:
    """Live progress bars per suite from WatchEvaluation; Ctrl+C detaches (the evaluation goes on)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lorafleet.cli.output import console

    out = console()
    out.print(f"evaluation [bold]{ev.id}[/]: {ev.adapter} vs {ev.baseline_adapter or 'base model'}")
    stream = client.watch_evaluation(ev.id)
    last = ev
    tasks: dict[str, Any] = {}
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=out, transient=False) as bars:
            for update in stream:
                last = update.evaluation
                for p in last.progress:
                    if p.suite not in tasks:
                        tasks[p.suite] = bars.add_task(p.suite, total=p.cases_total)
                    bars.update(tasks[p.suite], completed=p.cases_done, total=p.cases_total)
    except KeyboardInterrupt:
        stream.cancel()
        out.print(f"detached; evaluation {ev.id} continues on the server")
        raise
    return last


def _summary(ev: Any) -> None:
    from rich.table import Table

    from lorafleet.cli.output import console
    from lorafleet.v1 import eval_pb2

    out = console()
    if ev.state == eval_pb2.EVALUATION_STATE_FAILED:
        out.print(f"[bold red]FAILED[/] {ev.error}")
        return
    table = Table(title=f"{ev.adapter} vs {ev.baseline_adapter or 'base model'}")
    for col in ("suite", "cases", "candidate", "baseline", "effect [95% CI]", "p", "test"):
        table.add_column(col)
    for s in ev.suite_results:
        table.add_row(s.suite, str(s.num_cases), f"{s.candidate_score:.3f}", f"{s.baseline_score:.3f}",
                      f"{s.effect:+.3f} [{s.ci_low:+.3f}, {s.ci_high:+.3f}]", f"{s.p_value:.3g}", s.test)
    out.print(table)
    for g in ev.decision.gates:
        if not g.passed:
            ids = ", ".join(list(g.case_ids)[:8]) + (" ..." if len(g.case_ids) > 8 else "")
            out.print(f"[red]✗ {g.gate}[/] {g.suite}: {g.reason}" + (f" — cases: {ids}" if ids else ""))
    verdict = eval_pb2.Verdict.Name(ev.decision.verdict).removeprefix("VERDICT_")
    color = "green" if verdict == "PROMOTE" else "red"
    out.print(f"[bold {color}]{verdict}[/] {ev.decision.summary}")
    if ev.decision.promoted_alias:
        out.print(f"{ev.adapter.split('@')[0]}@{ev.decision.promoted_alias} -> {ev.adapter}")
    out.print(f"report: {ev.report_html_path}")


def _list_suites(client: Any, args: argparse.Namespace) -> int:
    from rich.table import Table

    from lorafleet.cli.output import console, print_json
    from lorafleet.v1 import eval_pb2

    suites = client.list_suites()
    if args.json:
        from lorafleet.cli.output import message_dict

        print_json([message_dict(s) for s in suites])
        return 0
    table = Table()
    for col in ("suite", "kind", "cases", "scorers", "description"):
        table.add_column(col)
    for s in suites:
        table.add_row(s.name, eval_pb2.SuiteKind.Name(s.kind).removeprefix("SUITE_KIND_").lower(), str(s.num_cases),
                      ", ".join(s.scorers), s.description)
    console().print(table)
    return 0


if __name__ == "__main__":  # pragma: no cover - convenience: python -m lorafleet.cli.evaluate ...
    parser = argparse.ArgumentParser(prog="lorafleet")
    register(parser.add_subparsers(dest="command", required=True))
    a = parser.parse_args()
    sys.exit(a.func(a))
