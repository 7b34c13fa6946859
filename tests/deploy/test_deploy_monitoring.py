"""Monitoring: the metrics contract (deploy/METRICS.md), the PrometheusRule alerts (promtool check
and unit tests that each alert fires on a bad series and stays quiet on a healthy one), the
ServiceMonitor and the Grafana dashboard (parses, uses only contract metrics, valid PromQL).
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from lorafleet_deploy_helpers import (
    DEPLOY,
    K8S,
    SERVICE_PORTS,
    exposed_series_names,
    find,
    metric_names_in,
    parse_metrics_md,
    selected_series,
    the,
)

DASHBOARD = DEPLOY / "grafana" / "lorafleet-dashboard.json"

# The names the platform brief asks for; the contract may grow, never lose one of these.
REQUIRED_METRICS = {
    "lorafleet_grpc_server_handled_total", "lorafleet_grpc_server_handling_seconds",
    "lorafleet_num_requests_running", "lorafleet_num_requests_waiting",
    "lorafleet_time_to_first_token_seconds", "lorafleet_inter_token_latency_seconds",
    "lorafleet_e2e_request_latency_seconds", "lorafleet_request_queue_time_seconds",
    "lorafleet_prompt_tokens_total", "lorafleet_generation_tokens_total", "lorafleet_batch_size",
    "lorafleet_adapter_loads_total", "lorafleet_adapter_evictions_total", "lorafleet_adapter_hits_total",
    "lorafleet_adapter_load_seconds", "lorafleet_adapter_slots_used", "lorafleet_training_jobs",
    "lorafleet_training_steps_total", "lorafleet_training_tokens_total", "lorafleet_training_loss",
    "lorafleet_training_step_seconds", "lorafleet_evaluations_total", "lorafleet_eval_cases_scored_total",
    "lorafleet_eval_gate_failures_total",
}


def _rule_groups() -> list[dict]:
    rule = yaml.safe_load((K8S / "base" / "prometheusrule.yaml").read_text())
    return rule["spec"]["groups"]


def _dashboard_exprs(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, expr) for every query in the dashboard, rows' nested panels included."""
    out = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                out.append((panel["title"], target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    return out


def _grafana_to_promql(expr: str) -> str:
    """Substitute Grafana's template variables with values promtool accepts."""
    return (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
            .replace("$__range", "1h").replace("$namespace", "lorafleet"))


# --- the contract --------------------------------------------------------------------------


def test_metrics_contract_follows_prometheus_conventions(metrics_contract):
    assert REQUIRED_METRICS <= metrics_contract.keys(), REQUIRED_METRICS - metrics_contract.keys()
    for spec in metrics_contract.values():
        assert re.fullmatch(r"lorafleet_[a-z0-9_]+", spec.name)
        assert spec.name.endswith("_total") == (spec.type == "counter"), spec.name
        if spec.name.endswith(("_seconds", "_latency")):
            assert spec.type == "histogram", spec.name
        if spec.type == "histogram":
            assert "adapter" not in spec.labels and "adapter_name" not in spec.labels, spec.name
    assert metrics_contract["lorafleet_grpc_server_handled_total"].labels == (
        "grpc_type", "grpc_service", "grpc_method", "grpc_code")
    assert metrics_contract["lorafleet_training_jobs"].labels == ("state",)
    assert metrics_contract["lorafleet_evaluations_total"].labels == ("outcome",)
    assert metrics_contract["lorafleet_eval_gate_failures_total"].labels == ("gate",)


def test_contract_parser_reads_types_and_labels():
    text = "| `lorafleet_x_total` | counter | `a`, `b` | all | x |\n| `other` | gauge | | | |\n"
    specs = parse_metrics_md(text)
    assert list(specs) == ["lorafleet_x_total"]
    assert specs["lorafleet_x_total"].labels == ("a", "b")


@pytest.mark.parametrize(
    "expr, names",
    [
        ('rate(lorafleet_a_total{grpc_code!="lorafleet_not_a_metric"}[5m])', {"lorafleet_a_total"}),
        ("histogram_quantile(0.9, sum by (le) (rate(lorafleet_b_bucket[5m])))", {"lorafleet_b_bucket"}),
        ("lorafleet_c / on (pod) lorafleet_d", {"lorafleet_c", "lorafleet_d"}),
        ('sum(up{job="lorafleet_x"})', set()),
    ],
)
def test_metric_name_extraction(expr, names):
    assert metric_names_in(expr) == names


# --- alerts --------------------------------------------------------------------------------


def test_alert_rules_pass_promtool_check(tmp_path, promtool):
    rules = tmp_path / "lorafleet-rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": _rule_groups()}, sort_keys=False))
    proc = promtool("check", "rules", rules)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 8 rules found" in proc.stdout


def test_alerts_use_only_contract_metrics(metrics_contract):
    series = exposed_series_names(metrics_contract)
    alerts = {r["alert"]: r["expr"] for g in _rule_groups() for r in g["rules"] if "alert" in r}
    assert set(alerts) == {"LoraFleetHighErrorRate", "LoraFleetServerErrors", "LoraFleetQueueBacklog",
                           "LoraFleetGateRejections", "LoraFleetTrainingJobStuck", "LoraFleetRolloutRolledBack",
                           "LoraFleetLiveRefusalDrift", "LoraFleetLiveFormatInvalid"}
    for name, expr in alerts.items():
        used = metric_names_in(expr)
        assert used and used <= series.keys(), (name, used - series.keys())
    for rule in (r for g in _rule_groups() for r in g["rules"]):
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert {"summary", "description"} <= rule["annotations"].keys()


S = ('lorafleet_grpc_server_handled_total{namespace="lf",job="lorafleet-inference",grpc_type="unary",'
     'grpc_service="lorafleet.v1.InferenceService",grpc_method="Generate",grpc_code="%s"}')
T = '%s{namespace="lf",job="lorafleet-trainer",pod="trainer-0"%s}'
E = 'lorafleet_evaluations_total{namespace="lf",job="lorafleet-evaluator",outcome="%s"}'
Q = 'lorafleet_num_requests_waiting{namespace="lf",job="lorafleet-inference",pod="%s"}'
LV = '%s{namespace="lf",job="lorafleet-evaluator",adapter="support-bot",arm="production"}'
RB = 'lorafleet_rollout_rollbacks_total{namespace="lf",job="lorafleet-evaluator",adapter="support-bot"}'

# (scenario, input series over 1-minute steps, alerts expected firing at eval_time)
ALERT_SCENARIOS = [
    ("healthy", [
        (S % "OK", "0+600x60"), (S % "INVALID_ARGUMENT", "0+6x60"),
        (Q % "inference-a", "2x60"), (Q % "inference-b", "0x60"),
        (T % ("lorafleet_training_jobs", ',state="running"'), "1x60"),
        (T % ("lorafleet_training_steps_total", ""), "0+3x60"),
        (E % "promoted", "0x30 1x30"),
     ], "50m", set()),
    ("client errors", [(S % "OK", "0+60x60"), (S % "NOT_FOUND", "0+30x60")], "30m", {"LoraFleetHighErrorRate"}),
    ("server errors", [(S % "OK", "0+950x60"), (S % "INTERNAL", "0+50x60")], "30m", {"LoraFleetServerErrors"}),
    ("errors on idle traffic", [(S % "OK", "0+1x60"), (S % "INTERNAL", "0+1x60")], "30m", {"LoraFleetServerErrors"}),
    ("queue backlog", [(Q % "inference-a", "30x60"), (Q % "inference-b", "20x60")], "30m", {"LoraFleetQueueBacklog"}),
    ("short queue spike", [(Q % "inference-a", "0x24 40x5 0x30")], "30m", set()),
    ("rejection", [(E % "promoted", "0x60"), (E % "rejected", "0x20 1x40")], "30m", {"LoraFleetGateRejections"}),
    ("old rejection", [(E % "rejected", "0x5 1x100")], "90m", set()),
    ("stuck job", [
        (T % ("lorafleet_training_jobs", ',state="running"'), "1x60"),
        (T % ("lorafleet_training_steps_total", ""), "0+5x10 50x50"),
     ], "50m", {"LoraFleetTrainingJobStuck"}),
    ("stuck before the first step", [(T % ("lorafleet_training_jobs", ',state="running"'), "1x60")],
     "45m", {"LoraFleetTrainingJobStuck"}),
    ("rollback", [(RB, "0x20 1x40")], "30m", {"LoraFleetRolloutRolledBack"}),
    ("old rollback", [(RB, "0x5 1x100")], "90m", set()),
    # 20% refusals for a day, then 50% for the last 40 minutes (10 scored replies a minute).
    ("refusal drift", [(LV % "lorafleet_live_scored_total", "0+10x1500"),
                       (LV % "lorafleet_live_refusals_total", "0+2x1460 2920+5x40")], "1500m",
     {"LoraFleetLiveRefusalDrift"}),
    ("steady refusals", [(LV % "lorafleet_live_scored_total", "0+10x1500"),
                         (LV % "lorafleet_live_refusals_total", "0+2x1500")], "1500m", set()),
    ("format breaks", [(LV % "lorafleet_live_format_checked_total", "0+5x60"),
                       (LV % "lorafleet_live_format_invalid_total", "0x10 0+3x50")], "55m",
     {"LoraFleetLiveFormatInvalid"}),
    ("format fine", [(LV % "lorafleet_live_format_checked_total", "0+5x60"),
                     (LV % "lorafleet_live_format_invalid_total", "0+0.2x60")], "55m", set()),
    ("idle trainer", [
        (T % ("lorafleet_training_jobs", ',state="running"'), "0x60"),
        (T % ("lorafleet_training_steps_total", ""), "50x60"),
     ], "50m", set()),
]


@pytest.mark.parametrize("scenario, series, eval_time, expected", ALERT_SCENARIOS, ids=[s[0] for s in ALERT_SCENARIOS])
def test_alert_fires_exactly_when_it_should(scenario, series, eval_time, expected, tmp_path, promtool):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": _rule_groups()}, sort_keys=False))
    exp_samples = [{"labels": f'{{alertname="{name}"}}', "value": 1} for name in sorted(expected)]
    unit = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "30s",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series],
            "promql_expr_test": [{
                "expr": 'count by (alertname) (ALERTS{alertstate="firing"})',
                "eval_time": eval_time,
                "exp_samples": exp_samples,
            }],
        }],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(unit, sort_keys=False))
    proc = promtool("test", "rules", "test.yaml", cwd=tmp_path)
    assert proc.returncode == 0, f"{scenario}: expected firing {sorted(expected)}\n{proc.stdout}{proc.stderr}"


# --- scraping ------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_service_monitor_scrapes_the_three_metrics_ports(overlay, rendered):
    resources = rendered[overlay]
    monitor = the(resources, "ServiceMonitor", "lorafleet")
    selector = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    scraped = {}
    for service in find(resources, "Service"):
        if selector.items() <= service["metadata"].get("labels", {}).items():
            for port in service["spec"]["ports"]:
                if port["name"] == endpoint["port"]:
                    scraped[service["metadata"]["labels"]["app.kubernetes.io/component"]] = port["port"]
    assert scraped == {c: p["metrics"] for c, p in SERVICE_PORTS.items()}


# --- dashboard -----------------------------------------------------------------------------


def test_dashboard_is_valid_grafana_json():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] == "LoRAFleet"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace"} <= variables


def test_dashboard_uses_only_contract_metrics_correctly(metrics_contract):
    dashboard = json.loads(DASHBOARD.read_text())
    series = exposed_series_names(metrics_contract)
    used = set()
    for title, expr in _dashboard_exprs(dashboard):
        names = metric_names_in(expr)
        assert names, f"{title}: {expr} selects no lorafleet metric"
        assert names <= series.keys(), f"{title}: not in deploy/METRICS.md: {names - series.keys()}"
        used |= {series[n].name for n in names}
        for name, func in selected_series(expr):
            spec = series[name]
            if func in ("rate", "increase", "irate"):
                assert spec.type in ("counter", "histogram"), f"{title}: {func}() over gauge {name}"
            if name.endswith("_bucket"):
                assert "histogram_quantile" in expr and "le" in expr, f"{title}: {name} without histogram_quantile by le"
            if spec.type == "counter":
                assert func in ("rate", "increase", "irate"), f"{title}: raw counter {name}"
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            assert metric_names_in(query["query"]) <= series.keys()
    # Every metric the brief names is on the dashboard.
    assert REQUIRED_METRICS <= used, REQUIRED_METRICS - used


def test_dashboard_covers_the_brief():
    titles = {t.lower() for t, _ in _dashboard_exprs(json.loads(DASHBOARD.read_text()))}
    for needle in ("request rate", "error rate", "time to first token", "end-to-end latency",
                   "tokens per second", "batch size", "queue depth", "adapter slots used",
                   "adapter loads / evictions", "training throughput", "training loss",
                   "evaluations by outcome", "gate failures", "live refusal rate", "live task format validity",
                   "rollout weight", "rollbacks / promotions"):
        assert any(needle in t for t in titles), needle


def test_dashboard_queries_are_valid_promql(tmp_path, promtool):
    """promtool has no stand-alone expression checker; wrapping each query in a recording rule
    makes `promtool check rules` parse it."""
    exprs = _dashboard_exprs(json.loads(DASHBOARD.read_text()))
    rules = [{"record": f"lorafleet:dashboard_check_{i}", "expr": _grafana_to_promql(e)} for i, (_, e) in enumerate(exprs)]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = promtool("check", "rules", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The check does catch a broken query.
    path.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": [{"record": "x:y", "expr": "sum(rate(a[5m])"}]}]}))
    assert promtool("check", "rules", path).returncode != 0


def test_dashboard_is_shipped_as_a_grafana_configmap(rendered):
    for overlay in ("dev", "production"):
        cm = the(rendered[overlay], "ConfigMap", "lorafleet-grafana-dashboard")
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(cm["data"]["lorafleet-dashboard.json"]) == json.loads(DASHBOARD.read_text())


# --- the services against the contract -----------------------------------------------------

SERVICE_METRIC_MODULES = ("lorafleet.server.metrics", "inference_service.metrics", "inference_service.http.metrics",
                          "trainer_service.metrics", "eval_service.metrics", "eval_service.online.metrics")


def _declared_metrics() -> dict[str, tuple[str, tuple[str, ...] | None, object]]:
    """Exposed name -> (type, label names, metric object) of every metric the services declare
    at module level (prometheus_client appends _total to counters and _info to infos)."""
    import importlib

    from prometheus_client.metrics import MetricWrapperBase

    declared = {}
    for module_name in SERVICE_METRIC_MODULES:
        module = importlib.import_module(module_name)
        for obj in vars(module).values():
            if isinstance(obj, MetricWrapperBase):
                kind = obj._type
                name = obj._name + {"counter": "_total", "info": "_info"}.get(kind, "")
                # An Info's labels are given at .info() time, not declared: not compared.
                labels = None if kind == "info" else tuple(obj._labelnames)
                declared[name] = ("gauge" if kind == "info" else kind, labels, obj)
    return declared


def test_services_expose_the_contract(metrics_contract):
    """What the dashboard, alerts and autoscaler read is what the services declare: same names,
    types and label names. A rename on either side fails here, not silently in production."""
    declared = _declared_metrics()
    problems = []
    for name in sorted(REQUIRED_METRICS - declared.keys()):
        problems.append(f"{name}: in deploy/METRICS.md, used by deploy/, declared by no service")
    for name, (kind, labels, _) in sorted(declared.items()):
        spec = metrics_contract.get(name)
        if spec is None:
            problems.append(f"{name}: declared by a service, missing from deploy/METRICS.md")
        elif spec.type != kind or (labels is not None and set(spec.labels) != set(labels)):
            problems.append(f"{name}: service says {kind}{sorted(labels or ())}, "
                            f"METRICS.md says {spec.type}{sorted(spec.labels)}")
    evaluations = declared.get("lorafleet_evaluations_total")
    if evaluations is not None:
        outcomes = {s.labels["outcome"] for fam in evaluations[2].collect() for s in fam.samples}
        if not outcomes <= {"promoted", "rejected", "failed"}:
            problems.append(f"lorafleet_evaluations_total outcomes {sorted(outcomes)} are not promoted/rejected/failed")
    assert problems == [], "\n".join(problems)
