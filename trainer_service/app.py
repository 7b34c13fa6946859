"""Service bindings this package contributes to its server (see lorafleet.server.binding)."""

from __future__ import annotations

import asyncio

from lorafleet.server.binding import ServiceBinding
from lorafleet.server.context import ServerContext


def build_bindings(ctx: ServerContext) -> list[ServiceBinding]:
    """TrainerService with its job runner. The runner starts (recovering jobs left by a previous
    process, see trainer_service.jobs) before the port opens and stops after it closes."""
    from trainer_service.data.datasets import DatasetStore
    from trainer_service.jobs import JobRunner
    from trainer_service.servicer import SERVICE_NAME, TrainerServicer, add_to_server

    s = ctx.settings
    datasets = DatasetStore(ctx.registry, s.data_root_paths, s.max_upload_bytes)
    runner = JobRunner(ctx.registry, datasets, base_model_dir=ctx.base_model_dir, base_spec=ctx.base_spec,
                       device=s.device, base_model_name=s.base_model)
    servicer = TrainerServicer(runner, datasets)

    async def on_start() -> None:
        await asyncio.to_thread(runner.start)

    async def on_stop(grace_s: float) -> None:
        await asyncio.to_thread(runner.stop, grace_s)

    return [ServiceBinding(SERVICE_NAME, servicer, add_to_server, on_start, on_stop)]
