"""The trainer role: how TrainerService starts inside the shared server bootstrap.

``start`` starts the job runner (recovering jobs a previous process left, see
``trainer_service.jobs``) before the port opens; ``stop`` stops it after the port closed.
"""

from __future__ import annotations

import asyncio

from lorafleet.server.binding import ServiceBinding, StartedService
from lorafleet.server.context import ServerContext

SERVICE_NAME = "lorafleet.v1.TrainerService"


def build_bindings(ctx: ServerContext) -> list[ServiceBinding]:
    """TrainerService with its job runner."""

    async def start() -> StartedService:
        from trainer_service.data.datasets import DatasetStore
        from trainer_service.jobs import JobRunner
        from trainer_service.servicer import TrainerServicer, add_to_server
        from trainer_service.training.resume import ResumeSettings

        s = ctx.settings
        datasets = DatasetStore(ctx.registry, s.data_root_paths, s.max_upload_bytes)
        runner = JobRunner(ctx.registry, datasets, base_model_dir=ctx.base_model_dir, base_spec=ctx.base_spec,
                           device=s.device, base_model_name=s.base_model,
                           resume=ResumeSettings.from_settings(s))
        await asyncio.to_thread(runner.start)

        async def stop(grace_s: float) -> None:
            await asyncio.to_thread(runner.stop, grace_s)

        return StartedService(TrainerServicer(runner, datasets), add_to_server, stop)

    return [ServiceBinding(SERVICE_NAME, start)]
