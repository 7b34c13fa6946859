"""Training core: job config, model preparation (LoRA / QLoRA), the training loop, DDP entry point."""
