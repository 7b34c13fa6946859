"""Datasets: JSONL formats, validation, tokenization with loss masks, packing, storage."""
