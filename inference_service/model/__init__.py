"""Model layer: the quantized base, the LoRA bank layers installed into it, adapter weight files."""
