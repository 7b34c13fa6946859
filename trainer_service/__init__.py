"""Trainer service: datasets, LoRA/QLoRA training jobs, CANDIDATE adapter versions."""
