"""The OpenAI-compatible HTTP front of the inference server (``/v1/chat/completions``, ``/v1/completions``,
``/v1/models``, ``/health``): a second transport over the same front door, engine and registry as gRPC."""
