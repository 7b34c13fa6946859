"""``lorafleet demo``: the whole loop on the embedded model (see lorafleet/demo/runner.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lorafleet.demo import DEMO_CASES_PER_SUITE, DEMO_POLICY


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="train, evaluate, promote, serve and reject adapters end to end on the embedded model",
        description="Starts the three services on loopback, trains support-bot v1 (promoted), a poisoned v2 "
                    "(rejected offline, then rolled back from a live canary) and v3, v1 trained on (shadow, canary, "
                    "promoted), and prints a summary. Takes 13–21 minutes on a 2-core CPU.")
    parser.add_argument("--home", type=Path, default=None,
                        help="demo directory, wiped at start (default: $LORAFLEET_HOME/demo)")
    parser.add_argument("--cases-per-suite", type=int, default=DEMO_CASES_PER_SUITE, metavar="N",
                        help="cases per evaluation suite, to keep the demo short on a 2-core CPU "
                             "(0 = every case; `lorafleet eval` runs full suites)")
    parser.add_argument("--policy", default=DEMO_POLICY,
                        help="promotion policy: a shipped name (default, small-model) or a YAML path on the evaluator "
                             f"(default: {DEMO_POLICY})")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import signal
    import sys

    from lorafleet.config import Settings
    from lorafleet.demo.runner import Demo

    settings = Settings.from_env()
    home = (args.home or settings.home / "demo").expanduser().resolve()
    # SIGTERM unwinds like Ctrl-C, so the demo's services are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.cases_per_suite < 0:
        raise SystemExit("error: --cases-per-suite must be >= 0")
    return Demo(home, model_cache_dir=settings.resolved_model_cache_dir, cases_per_suite=args.cases_per_suite,
                policy=args.policy).run()
