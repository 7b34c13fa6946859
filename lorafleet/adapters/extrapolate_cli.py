"""``lorafleet extrapolate SRC --out DST --mlp S --attention S``: an adapter's update scaled by part.

A local file operation (no service): the result is a PEFT directory to register with
``lorafleet adapters import DST --name NAME``. ``lorafleet/adapters/extrapolate.py`` has the math and why.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extrapolate", help="scale a LoRA adapter's update, MLP and attention projections apart (ExPO)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a PEFT LoRA adapter directory")
    parser.add_argument("--out", type=Path, required=True, help="the new adapter directory (must not exist)")
    parser.add_argument("--mlp", type=float, default=1.0, help="factor on the MLP projections' update (default 1)")
    parser.add_argument("--attention", type=float, default=1.0,
                        help="factor on the attention projections' update (default 1)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from lorafleet.adapters.extrapolate import Factors, extrapolate
    from lorafleet.errors import LoraFleetError

    try:
        touched = extrapolate(args.source, args.out, Factors(mlp=args.mlp, attention=args.attention))
    except LoraFleetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: MLP update x{args.mlp:g} ({touched['mlp']} modules), "
          f"attention update x{args.attention:g} ({touched['attention']} modules)")
    return 0
