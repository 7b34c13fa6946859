"""The trainer's enums, built from the proto name tables of ``lorafleet.names``.

Why: a job state, an event type or a dataset format is spelled once, in ``protos/``; these enums
take their members from ``lorafleet.names`` so that adding a value to a ``.proto`` file adds it
here too. They are ``str``-valued, so a member equals, stores and serialises as its plain value
(``EventType.PROGRESS == "progress"``, ``JobState.RUNNING == "RUNNING"``): persisted records and
milestones keep their JSON form, and records written before these enums existed still load.
"""

from __future__ import annotations

from enum import Enum

from lorafleet.names import DATASET_FORMATS, JOB_STATES, TERMINAL_JOB_STATES, TRAINING_EVENT_TYPES, EnumNames


class NameEnum(str, Enum):
    """A ``str`` enum whose members come from an :class:`EnumNames` table; ``str()`` is the value."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def from_names(cls, name: str, table: EnumNames, *, upper: bool = False) -> type[NameEnum]:
        """One member per short name of ``table`` (member ``X`` for ``"x"``); ``upper`` stores ``"X"``."""
        members = [(short.upper(), short.upper() if upper else short) for short in table.choices]
        return cls(name, members, module=__name__)


#: A training job's state, stored upper-case in the job record ("RUNNING"), as it always was.
JobState = NameEnum.from_names("JobState", JOB_STATES, upper=True)
#: The type of one training event ("state_changed", "progress", ...), as persisted with the job.
EventType = NameEnum.from_names("EventType", TRAINING_EVENT_TYPES)
#: The record shape of a dataset ("chat", "prompt_completion", "text").
DatasetFormat = NameEnum.from_names("DatasetFormat", DATASET_FORMATS)

TERMINAL_STATES = frozenset(JobState(s.upper()) for s in TERMINAL_JOB_STATES)
