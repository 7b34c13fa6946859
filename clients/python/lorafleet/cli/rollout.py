"""``lorafleet rollout start|status|list|weight|promote|abort`` and ``lorafleet feedback``.

Rollouts live on the evaluator (``--server``, else ``$LORAFLEET_EVAL_ADDRESS``, else
host:eval_port). ``status --watch`` (and ``start --watch``) shows a live table of both arms, every
guardrail's test and the decisions until the rollout ends. Exit status of a watched rollout: 0 when
it was promoted, 3 when it was rolled back or aborted, 1 for anything else.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table

from lorafleet.cli.client_args import client_from_args, client_parent
from lorafleet.cli.output import console, message_dict, print_json, timestamp
from lorafleet.names import GUARDRAIL_DECISIONS, ROLLOUT_ACTIONS, ROLLOUT_MODES, ROLLOUT_STATES, TRAFFIC_ARMS

EXIT_PROMOTED, EXIT_FAILED, EXIT_REJECTED = 0, 1, 3


def _weights(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of percentages") from None


def register(subparsers: Any) -> None:
    common = [client_parent("eval")]
    p = subparsers.add_parser("rollout", help="canary and shadow rollouts, watched on live traffic")
    sub = p.add_subparsers(dest="rollout_command", metavar="ACTION", required=True)
    s = sub.add_parser("start", parents=common, help="roll NAME@VERSION out next to production")
    s.add_argument("adapter", metavar="NAME@VERSION")
    s.add_argument("--mode", choices=ROLLOUT_MODES.choices, default="canary")
    s.add_argument("--weight", type=float, default=None, metavar="PERCENT", help="first canary weight (0-100]")
    s.add_argument("--steps", type=_weights, default=[], metavar="P1,P2", help="later canary weights")
    s.add_argument("--sampling-rate", type=float, default=None, metavar="F", help="share of replies scored (0-1]")
    s.add_argument("--policy", default="", help="online policy name or file (default online-default)")
    s.add_argument("--evaluation", default="", metavar="ID", help="the offline evaluation it passed")
    s.add_argument("--watch", action="store_true", help="follow it live until it ends")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_start)
    st = sub.add_parser("status", parents=common, help="both arms, the guardrails and the decisions")
    st.add_argument("rollout", metavar="NAME|ID")
    st.add_argument("--watch", action="store_true", help="a live table until the rollout ends")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)
    ls = sub.add_parser("list", parents=common, help="rollouts, newest first")
    ls.add_argument("--adapter", default="")
    ls.add_argument("--state", choices=ROLLOUT_STATES.choices, default=None)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    for name, text, func in (("promote", "promote the candidate now (production moves)", cmd_promote),
                             ("abort", "end the rollout; production and the candidate untouched", cmd_abort)):
        a = sub.add_parser(name, parents=common, help=text)
        a.add_argument("rollout", metavar="NAME|ID")
        a.add_argument("--reason", default="")
        a.add_argument("--json", action="store_true")
        a.set_defaults(func=func)
    w = sub.add_parser("weight", parents=common, help="set the current canary weight (its tests restart)")
    w.add_argument("rollout", metavar="NAME|ID")
    w.add_argument("weight", type=float, metavar="PERCENT")
    w.add_argument("--reason", default="")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=cmd_weight)
    f = subparsers.add_parser("feedback", parents=common, help="rate a served reply (by its request id)")
    f.add_argument("request_id")
    g = f.add_mutually_exclusive_group(required=True)
    g.add_argument("--score", type=float, help="a score in [0, 1]")
    g.add_argument("--up", dest="thumbs", action="store_const", const=True, help="thumbs up")
    g.add_argument("--down", dest="thumbs", action="store_const", const=False, help="thumbs down")
    f.add_argument("--comment", default="")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_feedback)


def _client(args: argparse.Namespace) -> Any:
    return client_from_args(args).rollouts


def cmd_start(args: argparse.Namespace) -> int:
    ro = _client(args).start(args.adapter, mode=args.mode, weight_percent=args.weight, weight_steps=args.steps,
                             sampling_rate=args.sampling_rate, policy=args.policy, evaluation_id=args.evaluation)
    if args.watch:
        return _watch(args, ro.id)
    return _show(args, ro)


def cmd_status(args: argparse.Namespace) -> int:
    if args.watch:
        return _watch(args, args.rollout)
    return _show(args, _client(args).get(args.rollout))


def cmd_list(args: argparse.Namespace) -> int:
    page = _client(args).list(args.adapter, args.state)
    if args.json:
        print_json({"rollouts": [message_dict(r) for r in page.rollouts]})
        return 0
    table = Table("id", "adapter", "candidate", "incumbent", "state", "stage", "created")
    for r in page.rollouts:
        table.add_row(r.id, r.adapter_name, str(r.candidate_version), str(r.incumbent_version),
                      ROLLOUT_STATES.name(r.state), stage_text(r), timestamp(r.create_time))
    console().print(table)
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    return _show(args, _client(args).promote(args.rollout, reason=args.reason))


def cmd_abort(args: argparse.Namespace) -> int:
    return _show(args, _client(args).abort(args.rollout, reason=args.reason))


def cmd_weight(args: argparse.Namespace) -> int:
    return _show(args, _client(args).set_weight(args.rollout, args.weight, reason=args.reason))


def cmd_feedback(args: argparse.Namespace) -> int:
    kw = {"score": args.score} if args.score is not None else {"thumbs_up": args.thumbs}
    reply = _client(args).submit_feedback(args.request_id, comment=args.comment, **kw)
    if args.json:
        print_json(reply)
    else:
        console().print(f"feedback recorded for {reply.request_id} ({reply.adapter}, "
                        f"{TRAFFIC_ARMS.name(reply.arm)})")
    return 0


def _show(args: argparse.Namespace, ro: Any) -> int:
    if args.json:
        print_json(ro)
    else:
        console().print(render(ro))
    return 0


def _watch(args: argparse.Namespace, rollout: str) -> int:
    last = None
    stream = _client(args).watch(rollout)
    if args.json:
        for update in stream:
            last = update.rollout
            print_json(update.rollout)
    else:
        with Live(console=console(), refresh_per_second=4) as live:
            for update in stream:
                last = update.rollout
                live.update(render(last))
    if last is None:
        return EXIT_FAILED
    state = ROLLOUT_STATES.name(last.state)
    return EXIT_PROMOTED if state == "promoted" else EXIT_REJECTED if state in ("rolled_back", "aborted") \
        else EXIT_FAILED


def stage_text(r: Any) -> str:
    mode = ROLLOUT_MODES.name(r.mode) if r.mode else "?"
    where = "shadow" if mode == "shadow" else f"canary {r.weight_percent:g}%"
    return f"{r.stage_index + 1}/{len(r.stages)} {where}"


def render(r: Any) -> Group:
    """The rollout as a header, an arms table, a guardrails table and its decisions."""
    head = (f"[bold]{r.adapter_name}[/bold] rollout {r.id}: {r.adapter_name}@{r.candidate_version} vs "
            f"production {r.adapter_name}@{r.incumbent_version} — [bold]{ROLLOUT_STATES.name(r.state).upper()}"
            f"[/bold], stage {stage_text(r)}, {r.sampling_rate:.0%} scored, policy {r.policy}")
    arms = Table("arm", "version", "requests", "scored", "errors", "refused", "format ok", "p95 TTFT", "feedback",
                 title="arms (current stage)")
    for a in r.arms:
        arms.add_row(TRAFFIC_ARMS.name(a.arm), str(a.version), str(a.requests), str(a.scored), str(a.errors),
                     f"{a.refusal_rate:.1%}", f"{a.format_valid_rate:.1%}" if a.format_checked else "-",
                     f"{a.p95_time_to_first_token_seconds:.2f}s",
                     f"{a.mean_feedback:.2f} ({a.feedback_count})" if a.feedback_count else "-")
    guards = Table("guardrail", "decision", "n cand/inc", "candidate", "incumbent", "harm diff", "95% CS",
                   "min effect", title="guardrails (anytime-valid)")
    for g in r.guardrails:
        guards.add_row(g.name + ("" if g.required else " (optional)"), GUARDRAIL_DECISIONS.name(g.decision),
                       f"{g.candidate_count}/{g.incumbent_count}", f"{g.candidate_mean:.3f}",
                       f"{g.incumbent_mean:.3f}", f"{g.difference:+.3f}", f"[{g.ci_low:+.3f}, {g.ci_high:+.3f}]",
                       f"{g.min_effect:g}")
    lines = [f"{timestamp(d.time)}  {ROLLOUT_ACTIONS.name(d.action).upper()}: {d.reason}" for d in r.decisions]
    parts: list[Any] = [head, arms, guards, *lines[-6:]]
    for d in r.decisions[-1:]:
        for c in d.cases[:3]:
            parts.append(f"  case {c.request_id} [{c.guardrail}]: {c.prompt[:70]!r} -> {c.reply[:90]!r}")
    return Group(*parts)
