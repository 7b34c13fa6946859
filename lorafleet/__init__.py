"""LoRAFleet: fine-tune, evaluate and serve many LoRA adapters on one base model."""

__version__ = "0.1.0"
