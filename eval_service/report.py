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

from eval_service.generation import EngineInfo
from eval_service.policy import Decision, Policy, SuiteComparison


def build_report(*, evaluation_id: str, payload: dict[str, Any], policy: Policy, engine: EngineInfo,
                 comparisons: list[SuiteComparison], decision: Decision, cases: list[dict[str, Any]],
                 contaminated: set[str], near_duplicates: set[str]) -> dict[str, Any]:
    suites = []
    for cmp in comparisons:
        rows = [c for c in cases if c["suite"] == cmp.suite]
        suites.append({
            "suite": cmp.suite, "kind": cmp.kind.value, "num_cases": len(rows), "gated_cases": cmp.gated_cases,
            "candidate_score": cmp.candidate_score, "baseline_score": cmp.baseline_score,
            "candidate_pass_rate": cmp.candidate_pass_rate, "baseline_pass_rate": cmp.baseline_pass_rate,
            "both_passed": cmp.both_passed, "candidate_only_passed": cmp.candidate_only,
            "baseline_only_passed": cmp.baseline_only, "neither_passed": cmp.neither,
            "effect": cmp.test.effect, "ci_low": cmp.test.ci_low, "ci_high": cmp.test.ci_high,
            "p_value": cmp.test.p_value, "test": cmp.test.test,
            "failing_cases": [c for c in rows if not c["candidate_passed"]],
        })
    return {
        "evaluation_id": evaluation_id,
        "adapter": payload["adapter"],
        "baseline_adapter": payload["baseline_adapter"],
        "baseline_label": payload["baseline_label"],
        "promote_to": payload["promote_to"],
        "policy": policy.model_dump(mode="json"),
        "sampling": payload["sampling"],
        "engine": {"base_model": engine.base_model, "base_fingerprint": engine.base_fingerprint,
                   "quantization": engine.quantization, "dtype": engine.dtype},
        "decision": {
            "verdict": decision.verdict,
            "summary": decision.summary,
            "gates": [{"gate": g.gate, "suite": g.suite, "passed": g.passed, "reason": g.reason,
                       "observed": g.observed, "threshold": g.threshold, "effect": g.effect,
                       "ci_low": g.ci_low, "ci_high": g.ci_high, "p_value": g.p_value, "test": g.test,
                       "case_ids": list(g.case_ids)} for g in decision.gates],
        },
        "suites": suites,
        "contaminated_case_ids": sorted(contaminated),
        "near_duplicate_case_ids": sorted(near_duplicates),
        "cases": cases,
        "create_time": payload.get("create_time", ""),
    }


def write_report(artifacts: Any, evaluation_id: str, report: dict[str, Any]) -> tuple[Path, Path]:
    json_path = artifacts.write_bytes(f"reports/{evaluation_id}.json",
                                      json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"))
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

    return (f'<svg width="{w + 40}" height="26" role="img" aria-label="candidate {candidate:.2f}, baseline {baseline:.2f}">'
            f'{bar(0, candidate, "#0969da")}{bar(14, baseline, "#8c959f")}</svg>')


def render_html(report: dict[str, Any]) -> str:
    d = report["decision"]
    verdict = d["verdict"]
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Evaluation {_e(report['evaluation_id'])}: {_e(verdict.upper())}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Evaluation {_e(report['evaluation_id'])}</h1>",
        f'<p><span class="verdict {_e(verdict)}">{_e(verdict.upper())}</span></p>',
        f"<p>{_e(d['summary'])}</p>",
        "<p class=\"meta\">",
        f"candidate <b>{_e(report['adapter'])}</b> vs baseline <b>{_e(report['baseline_label'])}</b>",
        f" &middot; policy {_e(report['policy']['name'])}",
        f" &middot; promote to {_e(report['promote_to'] or '(report only)')}",
        f" &middot; engine {_e(report['engine']['base_model'])} {_e(report['engine']['quantization'])}",
        f" &middot; max_tokens {_e(report['sampling']['max_tokens'])}, temperature {_e(report['sampling']['temperature'])}",
        "</p>",
        "<h2>Suites</h2>",
        '<p class="legend"><span><i class="sw" style="background:#0969da"></i>candidate</span>'
        '<span><i class="sw" style="background:#8c959f"></i>baseline</span></p>',
        "<table><tr><th>suite</th><th>kind</th><th>cases</th><th>score</th><th>candidate</th><th>baseline</th>"
        "<th>effect [CI]</th><th>p</th><th>test</th><th>both / cand only / base only / neither</th></tr>",
    ]
    for s in report["suites"]:
        parts.append(
            f"<tr><td>{_e(s['suite'])}</td><td>{_e(s['kind'])}</td><td class=\"num\">{s['num_cases']}</td>"
            f"<td>{_bars(s['candidate_score'], s['baseline_score'])}</td>"
            f"<td class=\"num\">{s['candidate_score']:.3f}</td><td class=\"num\">{s['baseline_score']:.3f}</td>"
            f"<td class=\"num\">{s['effect']:+.3f} [{s['ci_low']:+.3f}, {s['ci_high']:+.3f}]</td>"
            f"<td class=\"num\">{s['p_value']:.3g}</td><td>{_e(s['test'])}</td>"
            f"<td class=\"num\">{s['both_passed']} / {s['candidate_only_passed']} / {s['baseline_only_passed']} / {s['neither_passed']}</td></tr>")
    parts.append("</table><h2>Gates</h2><table><tr><th>gate</th><th>suite</th><th>result</th><th>observed</th>"
                 "<th>threshold</th><th>effect [CI], p</th><th>reason</th><th>cases</th></tr>")
    for g in d["gates"]:
        ok = "pass" if g["passed"] else "fail"
        ids = ", ".join(g["case_ids"][:20]) + (f" … (+{len(g['case_ids']) - 20})" if len(g["case_ids"]) > 20 else "")
        parts.append(
            f"<tr><td>{_e(g['gate'])}</td><td>{_e(g['suite'])}</td><td class=\"{ok}\">{ok.upper()}</td>"
            f"<td class=\"num\">{g['observed']:.3f}</td><td class=\"num\">{g['threshold']:.3f}</td>"
            f"<td class=\"num\">{g['effect']:+.3f} [{g['ci_low']:+.3f}, {g['ci_high']:+.3f}], p={g['p_value']:.3g}</td>"
            f"<td>{_e(g['reason'])}</td><td>{_e(ids)}</td></tr>")
    parts.append("</table>")
    if report["contaminated_case_ids"] or report["near_duplicate_case_ids"]:
        parts.append("<h2>Contamination</h2>")
        parts.append(f"<p>In the training data (excluded from gates): {_e(', '.join(report['contaminated_case_ids']) or 'none')}</p>")
        parts.append(f"<p>Near duplicates (reported only): {_e(', '.join(report['near_duplicate_case_ids']) or 'none')}</p>")
    parts.append("<h2>Failing cases (candidate vs baseline)</h2>")
    for s in report["suites"]:
        if not s["failing_cases"]:
            continue
        parts.append(f"<h3>{_e(s['suite'])} &mdash; {len(s['failing_cases'])} failing</h3>")
        parts.append("<table><tr><th>case</th><th>prompt / expected</th><th>candidate</th><th>baseline</th></tr>")
        for c in s["failing_cases"]:
            b_cls = "pass" if c["baseline_passed"] else "fail"
            parts.append(
                f"<tr id=\"case-{_e(c['case_id'])}\"><td>{_e(c['case_id'])}<br><small>{_e(', '.join(c['tags']))}</small></td>"
                f"<td><pre>{_e(c['prompt'])}</pre>"
                + (f"<small>expected: {_e(c['expected'])}</small>" if c["expected"] else "")
                + f"</td><td><pre>{_e(c['candidate_output'])}</pre><small class=\"fail\">{_e(c['candidate_reason'])}</small></td>"
                f"<td><pre>{_e(c['baseline_output'])}</pre><small class=\"{b_cls}\">{_e(c['baseline_reason'])}</small></td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)
