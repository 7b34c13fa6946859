"""Registry records -> protobuf (only at the gRPC edge), and AdapterState <-> proto enum."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from lorafleet.errors import InvalidArgument
from lorafleet.registry.models import AdapterState, AliasChangeRecord, AliasRecord, LoraSpec, VersionRecord
from lorafleet.v1 import common_pb2

STATE_TO_PROTO: dict[AdapterState, int] = {
    AdapterState.CANDIDATE: common_pb2.ADAPTER_STATE_CANDIDATE,
    AdapterState.EVALUATING: common_pb2.ADAPTER_STATE_EVALUATING,
    AdapterState.PROMOTED: common_pb2.ADAPTER_STATE_PROMOTED,
    AdapterState.REJECTED: common_pb2.ADAPTER_STATE_REJECTED,
}
PROTO_TO_STATE: dict[int, AdapterState] = {v: k for k, v in STATE_TO_PROTO.items()}
_LINEAGE_FIELDS = ("source", "training_job_id", "dataset_sha256", "validation_dataset_sha256",
                   "config_json", "base_model", "imported_from", "init_from")


def state_to_proto(state: AdapterState) -> int:
    return STATE_TO_PROTO[AdapterState(state)]


def state_from_proto(value: int, field: str = "state") -> AdapterState | None:
    """Proto enum -> AdapterState; UNSPECIFIED -> None (no filter); unknown numbers are refused."""
    if value == common_pb2.ADAPTER_STATE_UNSPECIFIED:
        return None
    try:
        return PROTO_TO_STATE[value]
    except KeyError:
        raise InvalidArgument(f"{value} is not an AdapterState", field=field) from None


def timestamp(dt: datetime | None) -> Timestamp:
    ts = Timestamp()
    if dt is not None:
        ts.FromDatetime(dt)
    return ts


def lora_to_proto(lora: LoraSpec) -> common_pb2.LoraConfig:
    return common_pb2.LoraConfig(r=lora.r, alpha=lora.alpha, dropout=lora.dropout,
                                 target_modules=list(lora.target_modules), use_rslora=lora.use_rslora)


def lineage_to_proto(lineage: dict[str, Any]) -> common_pb2.Lineage:
    """Known keys map to Lineage fields; dict/list values (e.g. a config) become JSON text."""
    values: dict[str, str] = {}
    for key in _LINEAGE_FIELDS:
        value = lineage.get(key)
        if value is None:
            continue
        values[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return common_pb2.Lineage(**values)


def _eval_to_proto(evaluation: dict[str, Any]) -> common_pb2.EvalRecord:
    msg = common_pb2.EvalRecord(
        evaluation_id=str(evaluation.get("evaluation_id", "")),
        verdict=str(evaluation.get("verdict", "")),
        report_json_path=str(evaluation.get("report_json_path", "")),
        report_html_path=str(evaluation.get("report_html_path", "")),
    )
    created = evaluation.get("created_at")
    if isinstance(created, str) and created:
        msg.create_time.CopyFrom(timestamp(datetime.fromisoformat(created)))
    return msg


def version_to_proto(record: VersionRecord) -> common_pb2.AdapterVersion:
    return common_pb2.AdapterVersion(
        name=record.name,
        version=record.version,
        state=state_to_proto(record.state),
        base_fingerprint=record.base_fingerprint,
        lora_config=lora_to_proto(record.lora),
        lineage=lineage_to_proto(record.lineage),
        metrics=dict(record.metrics),
        aliases=list(record.aliases),
        artifact_path=record.artifact_path,
        size_bytes=record.size_bytes,
        description=record.description,
        evaluations=[_eval_to_proto(e) for e in record.evaluations],
        create_time=timestamp(record.created_at),
        update_time=timestamp(record.updated_at),
        resolved_target_modules=list(record.resolved_target_modules),
    )


def alias_to_proto(record: AliasRecord) -> common_pb2.Alias:
    return common_pb2.Alias(name=record.name, alias=record.alias, version=record.version,
                            update_time=timestamp(record.updated_at))


def alias_change_to_proto(record: AliasChangeRecord) -> common_pb2.AliasChange:
    return common_pb2.AliasChange(name=record.name, alias=record.alias, from_version=record.from_version,
                                  to_version=record.to_version, reason=record.reason,
                                  change_time=timestamp(record.changed_at))
