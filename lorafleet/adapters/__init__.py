"""PEFT adapter directories: inspection and validation against the served base model."""

from lorafleet.adapters.peft_dir import AdapterInspection, inspect_adapter

__all__ = ["AdapterInspection", "inspect_adapter"]
