"""The trainer's enums follow the proto enums, and persisted events keep their JSON form."""

from __future__ import annotations

import json

import pytest

from lorafleet.errors import InvalidArgument
from lorafleet.names import DATASET_FORMATS, JOB_STATES, TRAINING_EVENT_TYPES
from lorafleet.v1 import trainer_pb2
from trainer_service import convert
from trainer_service.enums import TERMINAL_STATES, DatasetFormat, EventType, JobState
from trainer_service.events import event_from_dict, event_to_dict


def test_members_are_the_proto_names() -> None:
    assert [s.value for s in JobState] == [n.upper() for n in JOB_STATES.choices]
    assert [t.value for t in EventType] == list(TRAINING_EVENT_TYPES.choices)
    assert [f.value for f in DatasetFormat] == list(DATASET_FORMATS.choices)
    assert {s.value for s in TERMINAL_STATES} == {"SUCCEEDED", "FAILED", "CANCELLED"}


def test_members_compare_and_print_as_their_stored_values() -> None:
    assert JobState.RUNNING == "RUNNING" and f"{JobState.RUNNING}" == "RUNNING"
    assert EventType.CHECKPOINT_SAVED == "checkpoint_saved" and str(EventType.LOG) == "log"


def test_a_persisted_event_keeps_its_json_form_and_an_old_one_loads() -> None:
    old = {"sequence": 7, "type": "checkpoint_saved", "state": "RUNNING", "time": "2026-11-21T10:00:00+00:00",
           "checkpoint": {"step": 3}}
    event = event_from_dict(old)
    assert event.type is EventType.CHECKPOINT_SAVED and event.state is JobState.RUNNING
    assert json.loads(json.dumps(event_to_dict(event))) == old
    with pytest.raises(ValueError):
        event_from_dict({**old, "type": "exploded"})


def test_events_and_states_convert_by_name() -> None:
    event = event_from_dict({"sequence": 1, "type": "state_changed", "state": "CANCELLED",
                             "time": "2026-11-21T10:00:00+00:00"})
    out = convert.event_to_proto(event)
    assert out.type == trainer_pb2.TRAINING_EVENT_TYPE_STATE_CHANGED and out.state == trainer_pb2.JOB_STATE_CANCELLED
    assert convert.state_from_proto(trainer_pb2.JOB_STATE_QUEUED, "state") is JobState.QUEUED
    assert convert.state_from_proto(0, "state") is None
    assert convert.format_from_proto(trainer_pb2.DATASET_FORMAT_TEXT, "format") is DatasetFormat.TEXT
    assert convert.format_to_proto(None) == trainer_pb2.DATASET_FORMAT_UNSPECIFIED
    with pytest.raises(InvalidArgument) as err:
        convert.state_from_proto(99, "state")
    assert err.value.field == "state"
