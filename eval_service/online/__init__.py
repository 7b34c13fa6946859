"""Online evaluation: anytime-valid guardrails for canary and shadow rollouts of a candidate adapter."""
