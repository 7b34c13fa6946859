"""What the rest of the system needs to know about the served base model, without its weights."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LinearShape:
    in_features: int
    out_features: int


@dataclass(frozen=True)
class BaseModelSpec:
    """Identity and geometry of a base model.

    ``fingerprint`` is a stable hash of the model's weights and config; an adapter trained on
    another base has another fingerprint and is refused. ``linear_shapes`` maps each linear
    module's short name (``q_proj``) to its shape; ``linear_modules`` lists full module paths
    (``model.layers.0.self_attn.q_proj``) of every targetable linear layer (lm_head excluded).
    """

    name: str
    path: str
    model_type: str
    fingerprint: str
    num_layers: int
    hidden_size: int
    vocab_size: int
    max_position_embeddings: int
    linear_shapes: dict[str, LinearShape] = field(default_factory=dict)
    linear_modules: tuple[str, ...] = ()
