"""Evaluation reports: a JSON document and a self-contained HTML page.

Both are written to the artifact store as ``reports/<evaluation_id>.json`` and ``.html`` with the
store's atomic write (temp file + fsync + rename): a reader never sees half a report. The HTML page
has no external resources (inline CSS, bars drawn with inline SVG) so it can be attached to a
ticket or opened offline, and every piece of model output is HTML-escaped.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from eval_service.generation import EngineInfo, GenerationParams
from eval_service.plan import EvaluationPlan
from eval_service.policy import Decision, GateResult, Policy, SuiteComparison
from eval_service.results import CaseOutcome, SuiteResult
from lorafleet.registry.artifacts import ArtifactStore

CASE_IDS_SHOWN = 20  # per gate in the HTML table; the JSON has them all


class Report(BaseModel):
    """The JSON report (``model_dump(mode="json")``), also what the HTML page is rendered from."""

    model_config = ConfigDict(frozen=True)

    evaluation_id: str
    adapter: str
    baseline_adapter: str
    baseline_label: str
    promote_to: str
    policy: Policy
    sampling: GenerationParams
    engine: EngineInfo
    decision: Decision
    suites: tuple[SuiteResult, ...]
    contaminated_case_ids: list[str]
    near_duplicate_case_ids: list[str]
    cases: tuple[CaseOutcome, ...]
    create_time: str = ""


def build_report(*, evaluation_id: str, plan: EvaluationPlan, policy: Policy, engine: EngineInfo,
                 comparisons: list[SuiteComparison], decision: Decision, cases: list[CaseOutcome],
                 contaminated: set[str], near_duplicates: set[str]) -> Report:
    return Report(
        evaluation_id=evaluation_id, adapter=plan.adapter, baseline_adapter=plan.baseline_adapter,
        baseline_label=plan.baseline_label, promote_to=plan.promote_to, policy=policy, sampling=plan.sampling,
        engine=engine, decision=decision, suites=tuple(SuiteResult.of(cmp, cases) for cmp in comparisons),
        contaminated_case_ids=sorted(contaminated), near_duplicate_case_ids=sorted(near_duplicates),
        cases=tuple(cases), create_time=plan.create_time)


def write_report(artifacts: ArtifactStore, evaluation_id: str, report: Report) -> tuple[Path, Path]:
    document = json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False)
    json_path = artifacts.write_bytes(f"reports/{evaluation_id}.json", document.encode("utf-8"))
    html_path = artifacts.write_bytes(f"reports/{evaluation_id}.html", render_html(report).encode("utf-8"))
    return Path(json_path), Path(html_path)


# -- HTML ------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2330;max-width:1200px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde}
.verdict{display:inline-block;padding:.4rem 1rem;border-radius:6px;font-weight:700;color:#fff}
.promote{background:#1a7f37}.reject{background:#cf222e}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin-top:.5rem}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:.82rem;max-height:14rem;overflow:auto}
.meta{color:#57606a;font-size:.9rem}.legend span{margin-right:1rem}
.sw{display:inline-block;width:.8rem;height:.8rem;vertical-align:middle;margin-right:.3rem}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _bars(candidate: float, baseline: float) -> str:
    """Two horizontal bars (candidate, baseline) for values in [0, 1], as inline SVG."""
    w = 220

    def bar(y: int, v: float, color: str) -> str:
        v = min(max(v, 0.0), 1.0)
        return (f'<rect x="0" y="{y}" width="{w}" height="10" fill="#eaeef2"/>'
                f'<rect x="0" y="{y}" width="{v * w:.1f}" height="10" fill="{color}"/>'
                f'<text x="{w + 6}" y="{y + 9}" font-size="10">{v:.2f}</text>')

    label = f"candidate {candidate:.2f}, baseline {baseline:.2f}"
    return (f'<svg width="{w + 40}" height="26" role="img" aria-label="{label}">'
            f'{bar(0, candidate, "#0969da")}{bar(14, baseline, "#8c959f")}</svg>')


def render_html(report: Report) -> str:
    parts = [*_header(report), *_suites_table(report), *_gates_table(report), *_contamination(report),
             *_failing_cases(report), "</body></html>\n"]
    return "".join(parts)


def _header(report: Report) -> list[str]:
    d = report.decision
    verdict = d.verdict
    return [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Evaluation {_e(report.evaluation_id)}: {_e(verdict.upper())}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Evaluation {_e(report.evaluation_id)}</h1>",
        f'<p><span class="verdict {_e(verdict)}">{_e(verdict.upper())}</span></p>',
        f"<p>{_e(d.summary)}</p>",
        "<p class=\"meta\">",
        f"candidate <b>{_e(report.adapter)}</b> vs baseline <b>{_e(report.baseline_label)}</b>",
        f" &middot; policy {_e(report.policy.name)}",
        f" &middot; promote to {_e(report.promote_to or '(report only)')}",
        f" &middot; engine {_e(report.engine.base_model)} {_e(report.engine.quantization)}",
        f" &middot; max_tokens {_e(report.sampling.max_tokens)}, temperature {_e(report.sampling.temperature)}",
        "</p>",
    ]


def _suites_table(report: Report) -> list[str]:
    parts = [
        "<h2>Suites</h2>",
        '<p class="legend"><span><i class="sw" style="background:#0969da"></i>candidate</span>'
        '<span><i class="sw" style="background:#8c959f"></i>baseline</span></p>',
        "<table><tr><th>suite</th><th>kind</th><th>cases</th><th>score</th><th>candidate</th><th>baseline</th>"
        "<th>effect [CI]</th><th>p</th><th>test</th><th>both / cand only / base only / neither</th></tr>",
    ]
    for s in report.suites:
        counts = f"{s.both_passed} / {s.candidate_only_passed} / {s.baseline_only_passed} / {s.neither_passed}"
        parts.append(
            f"<tr><td>{_e(s.suite)}</td><td>{_e(s.kind.value)}</td><td class=\"num\">{s.num_cases}</td>"
            f"<td>{_bars(s.candidate_score, s.baseline_score)}</td>"
            f"<td class=\"num\">{s.candidate_score:.3f}</td><td class=\"num\">{s.baseline_score:.3f}</td>"
            f"<td class=\"num\">{s.effect:+.3f} [{s.ci_low:+.3f}, {s.ci_high:+.3f}]</td>"
            f"<td class=\"num\">{s.p_value:.3g}</td><td>{_e(s.test)}</td>"
            f"<td class=\"num\">{counts}</td></tr>")
    parts.append("</table>")
    return parts


def _gate_row(g: GateResult) -> str:
    ok = "pass" if g.passed else "fail"
    ids = ", ".join(g.case_ids[:CASE_IDS_SHOWN])
    if len(g.case_ids) > CASE_IDS_SHOWN:
        ids += f" … (+{len(g.case_ids) - CASE_IDS_SHOWN})"
    return (f"<tr><td>{_e(g.gate)}</td><td>{_e(g.suite)}</td><td class=\"{ok}\">{ok.upper()}</td>"
            f"<td class=\"num\">{g.observed:.3f}</td><td class=\"num\">{g.threshold:.3f}</td>"
            f"<td class=\"num\">{g.effect:+.3f} [{g.ci_low:+.3f}, {g.ci_high:+.3f}], p={g.p_value:.3g}</td>"
            f"<td>{_e(g.reason)}</td><td>{_e(ids)}</td></tr>")


def _gates_table(report: Report) -> list[str]:
    return ["<h2>Gates</h2><table><tr><th>gate</th><th>suite</th><th>result</th><th>observed</th>"
            "<th>threshold</th><th>effect [CI], p</th><th>reason</th><th>cases</th></tr>",
            *(_gate_row(g) for g in report.decision.gates), "</table>"]


def _contamination(report: Report) -> list[str]:
    if not (report.contaminated_case_ids or report.near_duplicate_case_ids):
        return []
    contaminated = ", ".join(report.contaminated_case_ids) or "none"
    near = ", ".join(report.near_duplicate_case_ids) or "none"
    return ["<h2>Contamination</h2>",
            f"<p>In the training data (excluded from gates): {_e(contaminated)}</p>",
            f"<p>Near duplicates (reported only): {_e(near)}</p>"]


def _case_row(c: CaseOutcome) -> str:
    b_cls = "pass" if c.baseline_passed else "fail"
    expected = f"<small>expected: {_e(c.expected)}</small>" if c.expected else ""
    return (f"<tr id=\"case-{_e(c.case_id)}\"><td>{_e(c.case_id)}<br><small>{_e(', '.join(c.tags))}</small></td>"
            f"<td><pre>{_e(c.prompt)}</pre>{expected}</td>"
            f"<td><pre>{_e(c.candidate_output)}</pre><small class=\"fail\">{_e(c.candidate_reason)}</small></td>"
            f"<td><pre>{_e(c.baseline_output)}</pre><small class=\"{b_cls}\">{_e(c.baseline_reason)}</small></td></tr>")


def _failing_cases(report: Report) -> list[str]:
    parts = ["<h2>Failing cases (candidate vs baseline)</h2>"]
    for s in report.suites:
        if not s.failing_cases:
            continue
        parts.append(f"<h3>{_e(s.suite)} &mdash; {len(s.failing_cases)} failing</h3>")
        parts.append("<table><tr><th>case</th><th>prompt / expected</th><th>candidate</th><th>baseline</th></tr>")
        parts += [_case_row(c) for c in s.failing_cases]
        parts.append("</table>")
    return parts
