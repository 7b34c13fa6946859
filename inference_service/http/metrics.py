"""Prometheus metrics of the HTTP front (the ``/metrics`` port serves them with the others).

The engine's request metrics (``lorafleet_time_to_first_token_seconds``, ``..._e2e_request_latency_seconds``,
tokens, queue time...) already count every request whatever its transport; these two are the HTTP
transport's own, as ``lorafleet_grpc_server_*`` are gRPC's. Labels are bounded: ``route`` is one of
the routes the front serves (``other`` for any other path), ``method`` the HTTP method, ``status``
the HTTP status code; never a model or adapter name.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/models/{model}", "/health")
METHODS = ("GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE")

HTTP_REQUESTS = Counter("lorafleet_http_requests", "HTTP requests answered by the OpenAI-compatible API, by "
                        "method, route and status code.", ["method", "route", "status"])
HTTP_REQUEST_SECONDS = Histogram(
    "lorafleet_http_request_duration_seconds",
    "Wall time from receiving an HTTP request to the end of its response (streams: the whole stream).",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))


def route_label(path: str) -> str:
    if path in ROUTES:
        return path
    if path.startswith("/v1/models/"):
        return "/v1/models/{model}"
    return "other"


def method_label(method: str) -> str:
    return method if method in METHODS else "other"
