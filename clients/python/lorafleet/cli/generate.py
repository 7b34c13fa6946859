"""``lorafleet generate`` and ``lorafleet chat``: stream completions from the inference server.

The inference address: ``--server``, else ``$LORAFLEET_INFERENCE_ADDRESS``, else host:inference_port.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lorafleet.cli.client_args import client_from_args, client_parent
from lorafleet.v1 import inference_pb2

FINISH_NAMES = {v: k.removeprefix("FINISH_REASON_").lower() for k, v in inference_pb2.FinishReason.items()}


def _sampling_flags() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("sampling")
    g.add_argument("--adapter", default="",
                   help="name (production alias), name@alias or name@version; empty: base model")
    g.add_argument("--max-tokens", type=int, default=None, help="most new tokens (default: server default)")
    g.add_argument("--temperature", type=float, default=None, help="0 = greedy (default)")
    g.add_argument("--top-p", type=float, default=None)
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--seed", type=int, default=None, help="makes sampling reproducible")
    g.add_argument("--stop", action="append", default=[], help="stop sequence (repeatable)")
    return p


def _sampling(args: argparse.Namespace) -> dict[str, Any]:
    return dict(max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                seed=args.seed, stop=args.stop)


def register(subparsers: Any) -> None:
    parents = [client_parent(), _sampling_flags()]
    p = subparsers.add_parser("generate", parents=parents, help="stream a completion for one prompt")
    p.add_argument("prompt", help="prompt text ('-' reads standard input)")
    p.add_argument("--chat", action="store_true", help="send the prompt as one user message (chat template)")
    p.add_argument("--usage", action="store_true", help="print token counts and timings on stderr at the end")
    p.set_defaults(func=cmd_generate)

    p = subparsers.add_parser("chat", parents=parents, help="interactive chat (empty line or Ctrl-D ends)")
    p.add_argument("--system", default="", help="system message")
    p.set_defaults(func=cmd_chat)


def _inference(args: argparse.Namespace):
    fleet = client_from_args(args)
    return fleet, fleet.inference


def _stream(client, args, *, prompt: str = "", messages=()) -> tuple[str, Any]:
    text, last = [], None
    for chunk in client.generate_stream(prompt, adapter=args.adapter, messages=messages, timeout=args.timeout,
                                        **_sampling(args)):
        sys.stdout.write(chunk.delta)
        sys.stdout.flush()
        text.append(chunk.delta)
        last = chunk
    sys.stdout.write("\n")
    return "".join(text), last


def cmd_generate(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    fleet, client = _inference(args)
    with fleet:
        if args.chat:
            _, last = _stream(client, args, messages=[("user", prompt)])
        else:
            _, last = _stream(client, args, prompt=prompt)
    if args.usage and last is not None:
        u = last.usage
        print(f"[{last.resolved_adapter or 'base model'}] finish={FINISH_NAMES.get(last.finish_reason, '?')} "
              f"prompt={u.prompt_tokens} (cached {u.cached_prompt_tokens}) completion={u.completion_tokens} "
              f"ttft={u.time_to_first_token_seconds:.3f}s "
              f"total={u.total_seconds:.3f}s", file=sys.stderr)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    history: list[tuple[str, str]] = [("system", args.system)] if args.system else []
    fleet, client = _inference(args)
    with fleet:
        while True:
            try:
                line = input("you> ")
            except EOFError:
                break
            if not line.strip():
                break
            history.append(("user", line))
            sys.stdout.write("assistant> ")
            reply, _ = _stream(client, args, messages=history)
            history.append(("assistant", reply))
    return 0
