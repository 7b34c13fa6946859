"""Prometheus metrics of the inference engine (vLLM vocabulary, ``lorafleet_`` prefix, base units).

Defined once per process in the default registry, which the server exposes on its metrics port.
No adapter names in labels: they are unbounded and would explode histogram cardinality.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_TOKEN_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5)

REQUESTS_RUNNING = Gauge("lorafleet_num_requests_running",
                         "Sequences in the running batch (decoding or prefilling).")
REQUESTS_WAITING = Gauge("lorafleet_num_requests_waiting", "Requests queued for admission.")
TIME_TO_FIRST_TOKEN = Histogram("lorafleet_time_to_first_token_seconds",
                                "From arrival to the first generated token.", buckets=_LATENCY)
INTER_TOKEN_LATENCY = Histogram("lorafleet_inter_token_latency_seconds",
                                "Between consecutive tokens of one sequence.", buckets=_TOKEN_LATENCY)
E2E_LATENCY = Histogram("lorafleet_e2e_request_latency_seconds",
                        "From arrival to the end of a request.", buckets=_LATENCY)
QUEUE_TIME = Histogram("lorafleet_request_queue_time_seconds",
                       "From arrival to admission into the batch.", buckets=_LATENCY)
PROMPT_TOKENS = Counter("lorafleet_prompt_tokens_total",
                        "Prompt tokens of the requests prefilled (those the prefix cache supplied included).")
GENERATION_TOKENS = Counter("lorafleet_generation_tokens_total", "Tokens generated.")
PREFIX_CACHE_QUERIES = Counter("lorafleet_prefix_cache_queries_total",
                               "Prompt tokens of the prompts looked up in the prefix cache.")
PREFIX_CACHE_HITS = Counter("lorafleet_prefix_cache_hits_total",
                            "Prompt tokens whose keys and values came from the prefix cache instead of a prefill.")
PREFIX_CACHE_BYTES = Gauge("lorafleet_prefix_cache_bytes", "Bytes of keys and values held by the prefix cache.")
BATCH_SIZE = Histogram("lorafleet_batch_size", "Sequences per decode step.",
                       buckets=(1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 128))
REQUESTS_FINISHED = Counter("lorafleet_requests_finished_total", "Finished requests by reason.", ["finish_reason"])
REGISTRY_LOOKUP_FAILURES = Counter(
    "lorafleet_registry_lookup_failures_total",
    "Adapter resolutions the registry could not answer (unreachable), by outcome: stale (served with the last "
    "known resolution) or failed (none known: UNAVAILABLE).", ["outcome"])
ADAPTER_LOADS = Counter("lorafleet_adapter_loads_total", "Adapter copies into a device slot.")
ADAPTER_EVICTIONS = Counter("lorafleet_adapter_evictions_total", "Adapters evicted from a device slot.")
ADAPTER_HITS = Counter("lorafleet_adapter_hits_total", "Requests whose adapter was already in a slot.")
ADAPTER_LOAD_SECONDS = Histogram("lorafleet_adapter_load_seconds", "Reading an adapter and copying it into a slot.",
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
ADAPTER_SLOTS_USED = Gauge("lorafleet_adapter_slots_used", "Device slots holding an adapter.")
ENGINE_THREADS_LIMIT = Gauge("lorafleet_engine_threads_limit",
                             "Intra-op CPU threads the engine may use (LORAFLEET_NUM_THREADS, else the cgroup CPU "
                             "quota and the affinity mask).")
ENGINE_THREADS = Gauge("lorafleet_engine_threads",
                       "Intra-op CPU threads the engine uses now (one while the CPU is contended).")

# Online evaluation (rollouts): routing, shadow re-runs, live reports to the evaluator.
ROUTED_REQUESTS = Counter("lorafleet_routed_requests_total",
                          "Requests for a bare adapter name with a running rollout, by the arm that answered "
                          "(production, canary).", ["arm"])
SHADOW_REQUESTS = Counter("lorafleet_shadow_requests_total",
                          "Shadow re-runs of production requests on a rollout's candidate, by outcome "
                          "(completed, shed, failed).", ["outcome"])
LIVE_REPORTS = Counter("lorafleet_live_reports_total",
                       "Observations of served requests for the evaluator, by outcome (sent, dropped, failed).",
                       ["outcome"])
ROLLOUT_TABLE_REFRESH_FAILURES = Counter("lorafleet_rollout_table_refresh_failures_total",
                                         "Reads of the running rollouts from the registry that failed (the last "
                                         "known table keeps serving).")
