"""Engine layer: one worker thread owns the model and runs continuous, multi-adapter batching."""
