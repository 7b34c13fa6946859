"""Rollout reports: the audit trail of one rollout as JSON and a self-contained HTML page.

Written to the artifact store as ``reports/rollouts/<rollout_id>.json`` / ``.html`` (atomic
writes) when a rollout ends, and written again when the retention period removes the text of its
live cases, so a report never keeps user text longer than the registry does. The page has no
external resources and HTML-escapes every piece of live text (which is redacted already).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from lorafleet.registry.artifacts import ArtifactStore
from lorafleet.registry.models import RolloutEventRecord, RolloutRecord

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2330;max-width:1200px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde}
.state{display:inline-block;padding:.4rem 1rem;border-radius:6px;font-weight:700;color:#fff;background:#57606a}
.PROMOTED{background:#1a7f37}.ROLLED_BACK{background:#cf222e}.RUNNING{background:#0969da}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin-top:.5rem}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.WORSE{color:#cf222e;font-weight:600}.NOT_WORSE{color:#1a7f37;font-weight:600}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:.82rem;max-height:12rem;overflow:auto}
.meta{color:#57606a;font-size:.9rem}
"""


def report_paths(artifacts: ArtifactStore, rollout_id: str) -> tuple[Path, Path]:
    return artifacts.path(f"reports/rollouts/{rollout_id}.json"), artifacts.path(f"reports/rollouts/{rollout_id}.html")


def build_report(ro: RolloutRecord, events: list[RolloutEventRecord]) -> dict[str, Any]:
    return {
        "rollout_id": ro.id, "adapter": ro.name, "candidate": ro.candidate_ref, "incumbent": ro.incumbent_ref,
        "state": ro.state.value, "reason": ro.reason, "policy": ro.policy, "evaluation_id": ro.evaluation_id,
        "sampling_rate": ro.sampling_rate, "stages": [s.to_json() for s in ro.stages], "stage_index": ro.stage_index,
        "created": ro.created_at.isoformat(), "finished": ro.finished_at.isoformat() if ro.finished_at else "",
        "decisions": [{"action": e.action, "reason": e.reason, "actor": e.actor, "time": e.created_at.isoformat(),
                       "stage_index": e.stage_index, "weight_percent": e.weight_percent, "evidence": e.evidence,
                       "cases": e.cases,
                       "text_expires": e.text_expires_at.isoformat() if e.text_expires_at else ""}
                      for e in events],
    }


def write_report(artifacts: ArtifactStore, ro: RolloutRecord, events: list[RolloutEventRecord]) -> tuple[Path, Path]:
    report = build_report(ro, events)
    json_path = artifacts.write_bytes(f"reports/rollouts/{ro.id}.json",
                                      json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"))
    html_path = artifacts.write_bytes(f"reports/rollouts/{ro.id}.html", render_html(report).encode("utf-8"))
    return Path(json_path), Path(html_path)


def _e(value: object) -> str:
    return html.escape(str(value))


def _num(value: object, fmt: str = "{:.3f}") -> str:
    return fmt.format(value) if isinstance(value, (int, float)) else "-"


def _evidence_table(evidence: list[dict[str, Any]]) -> str:
    if not evidence:
        return ""
    rows = "".join(
        f"<tr><td>{_e(g.get('name'))}{'' if g.get('required', True) else ' (optional)'}</td>"
        f"<td class='{_e(g.get('decision'))}'>{_e(g.get('decision'))}</td>"
        f"<td class=num>{g.get('n_candidate', 0)} / {g.get('n_incumbent', 0)}</td>"
        f"<td class=num>{_num(g.get('candidate_mean'))}</td><td class=num>{_num(g.get('incumbent_mean'))}</td>"
        f"<td class=num>{_num(g.get('harm_difference'), '{:+.3f}')}</td>"
        f"<td class=num>[{_num(g.get('ci_low'), '{:+.3f}')}, {_num(g.get('ci_high'), '{:+.3f}')}]</td>"
        f"<td class=num>{_num(g.get('p_worse'), '{:.2g}')} / {_num(g.get('p_not_worse'), '{:.2g}')}</td>"
        f"<td class=num>{_num(g.get('log_e_worse'), '{:.2f}')}</td>"
        f"<td class=num>{_num(g.get('delta'), '{:g}')}</td></tr>"
        for g in evidence)
    return ("<table><tr><th>guardrail</th><th>decision</th><th>n cand / inc</th><th>candidate</th><th>incumbent</th>"
            "<th>harm difference</th><th>confidence sequence</th><th>p worse / p not worse</th><th>log e-value "
            f"(worse)</th><th>min effect</th></tr>{rows}</table>")


def _cases_table(cases: list[dict[str, Any]], expires: str) -> str:
    if not cases:
        return ""
    rows = "".join(
        f"<tr><td>{_e(c.get('request_id'))}<br><span class=meta>{_e(c.get('arm'))} · {_e(c.get('guardrail'))}"
        f"</span></td><td><pre>{_e(c.get('prompt', '[text deleted]'))}</pre></td>"
        f"<td><pre>{_e(c.get('reply', '[text deleted]'))}</pre></td>"
        f"<td><pre>{_e(c.get('production_reply', ''))}</pre></td></tr>" for c in cases)
    note = f"Redacted; deleted after {expires}." if expires else "Text deleted after the retention period."
    return (f"<p class=meta>The live requests behind this decision. {_e(note)}</p><table><tr><th>request</th>"
            f"<th>prompt</th><th>candidate reply</th><th>production reply (shadow)</th></tr>{rows}</table>")


def render_html(report: dict[str, Any]) -> str:
    stages = " → ".join("shadow" if s["mode"] == "SHADOW" else f"canary {s['weight_percent']:g}%"
                        for s in report["stages"])
    parts = [f"<!doctype html><html><head><meta charset=utf-8><title>Rollout {_e(report['rollout_id'])}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Rollout of {_e(report['candidate'])} next to {_e(report['incumbent'])}</h1>",
             f"<p><span class='state {_e(report['state'])}'>{_e(report['state'])}</span> {_e(report['reason'])}</p>",
             f"<p class=meta>stages: {_e(stages)} · sampled {report['sampling_rate']:.0%} · policy "
             f"{_e(report['policy'].get('name', ''))} (alpha {report['policy'].get('alpha', '')} per guardrail) · "
             f"offline evaluation {_e(report['evaluation_id'] or 'none')} · {_e(report['created'])} → "
             f"{_e(report['finished'] or 'running')}</p>"]
    for d in report["decisions"]:
        parts.append(f"<h2>{_e(d['action'])} <span class=meta>{_e(d['time'])} · stage {d['stage_index']} · "
                     f"{d['weight_percent']:g}% · by {_e(d['actor'])}</span></h2><p>{_e(d['reason'])}</p>")
        parts.append(_evidence_table(d["evidence"]))
        parts.append(_cases_table(d["cases"], d["text_expires"]))
    parts.append("</body></html>")
    return "".join(parts)
