"""Evaluator service: task and safety regression gates before promotion."""
