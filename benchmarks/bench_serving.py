"""What the served benchmarks share: the prompts, and one in-process server driven by a client process.

``shadow_cost``, ``idle_ttft`` and ``served_vs_engine`` each build a runtime and a registry in this
process (their own ``build``), serve gRPC on a loopback port (``start_grpc``), and drive it from a
client in its own process (``client_process``: the script re-run with ``--client``), so the load
generator does not compete with the server for this process's GIL. ``run_served`` holds the
lifecycle: build, measure on one event loop, stop the engine and close the registry whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# The prompts of the throughput benchmarks (engine_speed, served_vs_engine, many_adapters).
GENERATION_PROMPTS = ["Write a short note to a customer about a delayed order.",
                      "Explain what a LoRA adapter is in one paragraph.",
                      "List three tips for writing clear emails.",
                      "Summarize the plot of a detective story in two sentences."]


def run_served(args: Any, build: Callable[[Any, Path], tuple[Any, Any, Any]],
               measure: Callable[[Any, Any, Any, Any], Awaitable[Any]], prefix: str) -> tuple[Any, Any]:
    """``measure(args, runtime, registry, settings)`` on the runtime ``build(args, work)`` made; returns
    its result and the settings."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    runtime, registry, settings = build(args, work)
    try:
        return asyncio.run(measure(args, runtime, registry, settings)), settings
    finally:
        runtime.engine.stop()
        registry.close()


async def start_grpc(settings: Any, registry: Any, runtime: Any, **servicer_kwargs: Any) -> tuple[Any, Any, str]:
    """An ``InferenceServicer`` on a free loopback port: (server, servicer, address)."""
    import grpc

    from inference_service.servicer import InferenceServicer, add_to_server

    server = grpc.aio.server()
    servicer = InferenceServicer(settings, registry, runtime, **servicer_kwargs)
    add_to_server(servicer, server)
    address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    await server.start()
    return server, servicer, address


async def stop_grpc(server: Any, servicer: Any) -> None:
    await server.stop(1)
    await servicer.front_door.close()


async def client_process(script: str, *argv: object) -> dict:
    """Run ``script --client argv...`` in a new process; its last stdout line is its JSON result."""
    proc = await asyncio.create_subprocess_exec(sys.executable, script, "--client", *map(str, argv),
                                                stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"client process {Path(script).name} failed with exit status {proc.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1])


async def time_to_first_token(stub: Any, request: Any, timeout: float) -> float:
    """Stream ``request`` to its end; seconds to the first chunk carrying tokens (to the end if none did).
    gRPC errors propagate."""
    t0 = time.perf_counter()
    first = None
    async for chunk in stub.GenerateStream(request, timeout=timeout):
        if first is None and chunk.token_ids:
            first = time.perf_counter() - t0
    return first if first is not None else time.perf_counter() - t0


def window_setting(args: Any) -> dict:
    """The ``admission_window_ms`` setting of ``--admission-window-ms``, or nothing (the default)."""
    return {} if args.admission_window_ms is None else {"admission_window_ms": args.admission_window_ms}


def write_results(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
