"""TrainerService over grpc.aio: a thin edge over DatasetStore and JobRunner.

Every blocking piece (tokenizing a dataset, database writes, reading files) runs in
``asyncio.to_thread``; training itself runs on the JobRunner's worker thread. So no RPC ever
stalls the event loop, and WatchTrainingJob streams while a job trains.

Upload size limit: an upload larger than ``settings.max_upload_bytes`` is refused with
INVALID_ARGUMENT (field ``chunk``, the message names the limit) as soon as the limit is crossed;
nothing of it is kept. INVALID_ARGUMENT rather than RESOURCE_EXHAUSTED because the request
itself is at fault (retrying it can never succeed), not a server resource running low.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import grpc

from lorafleet.errors import InvalidArgument
from lorafleet.registry import paging
from lorafleet.server.errors import grpc_errors
from lorafleet.v1 import trainer_pb2, trainer_pb2_grpc
from trainer_service import convert
from trainer_service.data.datasets import VALIDATE_REQUEST_FIELDS, DatasetStore
from trainer_service.data.validation import ValidationReport, parse_jsonl
from trainer_service.enums import TERMINAL_STATES
from trainer_service.jobs import JobRunner
from trainer_service.training.config import DEFAULT_MAX_SEQ_LENGTH

log = logging.getLogger(__name__)

SERVICE_NAME = trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"].full_name
WATCH_POLL_S = 5.0
MAX_FILENAME = 255
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


def check_upload_metadata(meta: trainer_pb2.DatasetMetadata) -> None:
    """A plain, printable file name of at most 255 characters; a sha256 of 64 hex digits when given."""
    name = meta.filename
    if len(name) > MAX_FILENAME or "/" in name or not name.isprintable():
        raise InvalidArgument("must be a plain, printable file name of at most 255 characters",
                              field="metadata.filename")
    if meta.sha256 and not SHA256_RE.fullmatch(meta.sha256):
        raise InvalidArgument("must be 64 hexadecimal digits", field="metadata.sha256")


class TrainerServicer(trainer_pb2_grpc.TrainerServiceServicer):
    def __init__(self, runner: JobRunner, datasets: DatasetStore, *,
                 default_max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH) -> None:
        self.runner = runner
        self.datasets = datasets
        self.default_max_seq_length = default_max_seq_length

    @grpc_errors
    async def UploadDataset(self, request_iterator: AsyncIterator[trainer_pb2.UploadDatasetRequest],
                            context: grpc.aio.ServicerContext) -> trainer_pb2.UploadDatasetResponse:
        first = None
        async for message in request_iterator:
            first = message
            break
        if first is None or first.WhichOneof("payload") != "metadata":
            raise InvalidArgument("the first message of an upload must carry metadata", field="metadata")
        meta = first.metadata
        check_upload_metadata(meta)
        fmt = convert.format_from_proto(meta.format, "metadata.format")

        async def chunks() -> AsyncIterator[bytes]:
            async for msg in request_iterator:
                if msg.WhichOneof("payload") != "chunk":
                    raise InvalidArgument("only the first message may carry metadata", field="metadata")
                yield msg.chunk

        info = await self.datasets.upload(meta.filename or "dataset.jsonl", chunks(), expected_sha256=meta.sha256)
        data = await asyncio.to_thread(info.path.read_bytes)
        parsed = await asyncio.to_thread(parse_jsonl, data, fmt=fmt)
        info = await asyncio.to_thread(self.datasets.finish_record, info, len(parsed.examples), parsed.format)
        return trainer_pb2.UploadDatasetResponse(dataset=convert.dataset_to_proto(info))

    @grpc_errors
    async def ValidateDataset(self, request: trainer_pb2.ValidateDatasetRequest,
                              context: grpc.aio.ServicerContext) -> trainer_pb2.ValidateDatasetResponse:
        fmt = convert.format_from_proto(request.format, "format")

        def run() -> ValidationReport:
            pair = self.datasets.read_pair(request, VALIDATE_REQUEST_FIELDS)
            return self.runner.validate_data(train=pair.train, validation=pair.validation,
                                             max_seq_length=request.max_seq_length or self.default_max_seq_length,
                                             fmt=fmt.value if fmt else "")

        return convert.report_to_proto(await asyncio.to_thread(run))

    @grpc_errors
    async def CreateTrainingJob(self, request: trainer_pb2.CreateTrainingJobRequest,
                                context: grpc.aio.ServicerContext) -> trainer_pb2.CreateTrainingJobResponse:
        config = convert.config_from_proto(request)
        job = await asyncio.to_thread(self.runner.create, config)
        return trainer_pb2.CreateTrainingJobResponse(job=convert.job_to_proto(job))

    @grpc_errors
    async def GetTrainingJob(self, request: trainer_pb2.GetTrainingJobRequest,
                             context: grpc.aio.ServicerContext) -> trainer_pb2.GetTrainingJobResponse:
        job = await asyncio.to_thread(self.runner.get, request.job_id)
        return trainer_pb2.GetTrainingJobResponse(job=convert.job_to_proto(job))

    @grpc_errors
    async def ListTrainingJobs(self, request: trainer_pb2.ListTrainingJobsRequest,
                               context: grpc.aio.ServicerContext) -> trainer_pb2.ListTrainingJobsResponse:
        state = convert.state_from_proto(request.state, "state")
        size = paging.page_size(request.page_size)
        digest = paging.filter_digest(state.value if state else None, request.adapter_name)
        offset = paging.decode_page_token(request.page_token, digest)
        jobs = await asyncio.to_thread(self.runner.list, state=state, adapter_name=request.adapter_name or None,
                                       limit=size + 1, offset=offset)
        token = paging.encode_page_token(offset + size, digest) if len(jobs) > size else ""
        return trainer_pb2.ListTrainingJobsResponse(jobs=[convert.job_to_proto(j) for j in jobs[:size]],
                                                    next_page_token=token)

    @grpc_errors
    async def CancelTrainingJob(self, request: trainer_pb2.CancelTrainingJobRequest,
                                context: grpc.aio.ServicerContext) -> trainer_pb2.CancelTrainingJobResponse:
        job = await asyncio.to_thread(self.runner.cancel, request.job_id)
        return trainer_pb2.CancelTrainingJobResponse(job=convert.job_to_proto(job))

    @grpc_errors
    async def WatchTrainingJob(
            self, request: trainer_pb2.WatchTrainingJobRequest,
            context: grpc.aio.ServicerContext) -> AsyncIterator[trainer_pb2.WatchTrainingJobResponse]:
        """Replay events after ``after_sequence``, then stream live ones; ends at a terminal state."""
        ev_log = await asyncio.to_thread(self.runner.events, request.job_id)
        cursor = request.after_sequence
        while True:
            for event in ev_log.after(cursor):
                cursor = event.sequence
                yield trainer_pb2.WatchTrainingJobResponse(event=convert.event_to_proto(event))
            if ev_log.closed and not ev_log.after(cursor):
                return
            await ev_log.wait(cursor, WATCH_POLL_S)
            if not ev_log.closed and not ev_log.after(cursor):
                job = await asyncio.to_thread(self.runner.get, request.job_id)
                if job.state in TERMINAL_STATES:  # e.g. finished by another path; close to end the stream
                    ev_log.close()


def add_to_server(servicer: TrainerServicer, server: grpc.aio.Server) -> None:
    trainer_pb2_grpc.add_TrainerServiceServicer_to_server(servicer, server)
