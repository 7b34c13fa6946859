"""Inference service: one quantized base, many hot-swapped adapters, batched together."""
