"""The simulation's report: the figures of each policy's day (the same seed gives the same
figures), as a dict for report.json, as text for the terminal, and as an HTML page with
charts (Chart.js from the consoles' npm package, inlined: the page stands alone).
"""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from dispatch_server.config import PROJECT_ROOT
from dispatch_server.simulation.plan import DayPlan
from dispatch_server.simulation.run import (
    TIME_TO_SITE_BINS,
    Options,
    RunResult,
    mean,
    minutes_to_site,
    percentile,
)

CHART_JS = PROJECT_ROOT / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
STAGES = ("assign", "arrive", "resolve")


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _stages(report: dict[str, Any]) -> dict[str, Any]:
    return {
        s["kind"]: {
            "clocks": s["clocks"], "met": s["met"], "missed": s["missed"],
            "pending": s["pending"], "compliance": s["compliance"],
            "median_minutes": s["median_minutes"], "p90_minutes": s["p90_minutes"],
        }
        for s in report["stages"]
    }  # fmt: skip


def _time_to_site(values: list[float]) -> dict[str, Any]:
    bins = []
    low = 0
    for high in TIME_TO_SITE_BINS:
        bins.append({"label": f"{low}-{high} min", "count": sum(low <= v < high for v in values)})
        low = high
    bins.append({"label": f"{low}+ min", "count": sum(v >= low for v in values)})
    return {
        "visits": len(values),
        "median_minutes": _r(percentile(values, 0.5)),
        "p90_minutes": _r(percentile(values, 0.9)),
        "bins": bins,
    }


def _utilisation(result: RunResult) -> dict[str, Any]:
    per_district: dict[str, list[float]] = {}
    busy = duty = 0.0
    for inspector in result.inspectors:
        busy += inspector.busy_seconds
        duty += inspector.duty_seconds
        if inspector.duty_seconds:
            share = min(1.0, inspector.busy_seconds / inspector.duty_seconds)
            per_district.setdefault(inspector.district, []).append(share)
    return {
        "overall": _r(busy / duty, 3) if duty else None,
        "inspector_hours": _r(duty / 3600),
        "busy_hours": _r(busy / 3600),
        "per_district": {d: _r(mean(v), 3) for d, v in sorted(per_district.items())},
    }


def _districts(result: RunResult) -> list[dict[str, Any]]:
    crews: dict[str, int] = {}
    for inspector in result.inspectors:
        crews[inspector.district] = crews.get(inspector.district, 0) + 1
    visits: dict[str, list[float]] = {}
    for case in result.cases:
        if case.on_site_at is not None:
            minutes = (case.on_site_at - case.created_at).total_seconds() / 60
            visits.setdefault(case.district, []).append(minutes)
    rows = []
    for entry in result.overview["per_district"]:
        code = entry["district"]
        rows.append(
            {
                "district": code, "name": entry["name_en"] or entry["name_ko"],
                "cases": entry["count"], "duplicates": entry["duplicates"],
                "inspectors": crews.get(code, 0),
                "cases_per_inspector": _r(entry["count"] / crews[code]) if crews.get(code)
                else None,
                "median_minutes_to_site": _r(percentile(visits.get(code, []), 0.5)),
            }
        )  # fmt: skip
    return sorted(rows, key=lambda r: r["district"])


def _run(result: RunResult) -> dict[str, Any]:
    o = result.outcomes
    return {
        "policy": str(result.policy),
        "reports": o.reports,
        "logged": o.logged,
        "duplicates": o.duplicates,
        "unlocatable": o.unlocatable,
        "unplaced": dict(sorted(o.unplaced.items())),
        "refused": dict(sorted(o.refused.items())),
        "elsewhere": o.elsewhere,
        "stuck": o.stuck,
        "visits": sum(c.on_site_at is not None for c in result.cases),
        "results": {
            outcome: sum(c.outcome == outcome for c in result.cases)
            for outcome in ("resolved", "unresolved", "referred")
        },
        "result_codes": dict(
            sorted(
                Counter(c.result_code for c in result.cases if c.outcome and c.result_code).items()
            )
        ),
        "sla": _stages(result.sla),
        "sla_by_category": {c: _stages(r) for c, r in sorted(result.sla_by_category.items())},
        "time_to_site": _time_to_site(minutes_to_site(result)),
        "server_time_to_site": result.overview["time_to_site"],
        "utilisation": _utilisation(result),
        "districts": _districts(result),
        "messages": dict(sorted(o.messages.items())),
        "sla_steps": o.sla_steps,
        "rerouted": o.rerouted,
        "ended_at": o.ended_at.isoformat() if o.ended_at else None,
        "calls": result.calls,
    }


def build(plan: DayPlan, results: list[RunResult], options: Options) -> dict[str, Any]:
    """The report's figures (no wall-clock times: the same seed gives the same report)."""
    return {
        "seed": options.seed,
        "start": plan.start.isoformat(),
        "hours": plan.hours,
        "complaints": len(plan.arrivals),
        "inspectors": len({s.n for s in plan.shifts}),
        "city_speed_kmh": options.city_speed_kmh,
        "districts": plan.districts(),
        "runs": [_run(r) for r in results],
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def as_text(report: dict[str, Any]) -> str:
    """The report for the terminal: one column per policy."""
    runs = report["runs"]
    head = ["", *[r["policy"] for r in runs]]
    rows = [
        ["reports (logged / duplicates / unlocatable)",
         *[f"{r['reports']} ({r['logged']} / {r['duplicates']} / {r['unlocatable']})"
           for r in runs]],
        *[[f"SLA {stage} compliance", *[_pct(r["sla"][stage]["compliance"]) for r in runs]]
          for stage in STAGES],
        ["time to site, median / p90 (min)",
         *[f"{r['time_to_site']['median_minutes']} / {r['time_to_site']['p90_minutes']}"
           for r in runs]],
        ["inspector utilisation", *[_pct(r["utilisation"]["overall"]) for r in runs]],
        ["results (resolved / unresolved / referred)",
         *[" / ".join(str(r["results"][k]) for k in ("resolved", "unresolved", "referred"))
           for r in runs]],
        ["texts sent", *[str(r["messages"].get("sent", 0)) for r in runs]],
    ]  # fmt: skip
    width = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    lines = [
        f"Simulated {report['complaints']:,} reports and {report['inspectors']} inspectors from "
        f"{report['start']} for {report['hours']:g} h (seed {report['seed']}).",
        "",
    ]
    for row in [head, *rows]:
        lines.append("  ".join(str(cell).ljust(width[i]) for i, cell in enumerate(row)))
    return "\n".join(lines)


def _table(rows: list[list[Any]], head: list[str]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape('-' if c is None else str(c))}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


_PAGE_SCRIPT = """
const report = JSON.parse(document.getElementById("report").textContent);
const runs = report.runs;
const colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const byPolicy = (values) => runs.map((run, i) => ({
  label: run.policy, data: values(run), backgroundColor: colours[i % colours.length]}));
function bars(id, labels, datasets, percent) {
  if (typeof Chart === "undefined") return;
  new Chart(document.getElementById(id), {type: "bar", data: {labels, datasets},
    options: {animation: false, scales: {y: {beginAtZero: true,
      ticks: percent ? {callback: (v) => v + " %"} : {}}}}});
}
const stages = ["assign", "arrive", "resolve"];
bars("sla", stages, byPolicy((r) => stages.map((s) =>
  r.sla[s].compliance === null ? null : +(r.sla[s].compliance * 100).toFixed(1))), true);
bars("site", runs[0].time_to_site.bins.map((b) => b.label),
  byPolicy((r) => r.time_to_site.bins.map((b) => b.count)), false);
const districts = runs[0].districts.map((d) => d.name);
bars("load", districts, byPolicy((r) => r.districts.map((d) => d.cases_per_inspector)), false);
const categories = Object.keys(runs[0].sla_by_category);
bars("arrive", categories, byPolicy((r) => categories.map((c) => {
  const value = r.sla_by_category[c].arrive.compliance;
  return value === null ? null : +(value * 100).toFixed(1); })), true);
bars("use", districts, byPolicy((r) => r.districts.map((d) =>
  r.utilisation.per_district[d.district] === undefined ? null
    : +(r.utilisation.per_district[d.district] * 100).toFixed(1))), true);
"""


def as_html(report: dict[str, Any]) -> str:
    """The report as one HTML file (charts drawn by the inlined Chart.js)."""
    runs = report["runs"]
    policies = [r["policy"] for r in runs]
    summary = _table(
        [
            ["reports", *[r["reports"] for r in runs]],
            ["logged", *[r["logged"] for r in runs]],
            ["duplicates (linked at intake)", *[r["duplicates"] for r in runs]],
            ["unlocatable (refused at intake)", *[r["unlocatable"] for r in runs]],
            ["visits", *[r["visits"] for r in runs]],
            *[
                [f"results: {outcome}", *[r["results"][outcome] for r in runs]]
                for outcome in ("resolved", "unresolved", "referred")
            ],
            [
                "result codes",
                *[", ".join(f"{code} {n}" for code, n in r["result_codes"].items()) for r in runs],
            ],
            *[
                [f"SLA {s}: compliance", *[_pct(r["sla"][s]["compliance"]) for r in runs]]
                for s in STAGES
            ],
            *[
                [
                    f"SLA {s}: met / missed",
                    *[f"{r['sla'][s]['met']} / {r['sla'][s]['missed']}" for r in runs],
                ]
                for s in STAGES
            ],
            ["time to site: median (min)", *[r["time_to_site"]["median_minutes"] for r in runs]],
            ["time to site: p90 (min)", *[r["time_to_site"]["p90_minutes"] for r in runs]],
            ["inspector utilisation", *[_pct(r["utilisation"]["overall"]) for r in runs]],
            ["texts sent", *[r["messages"].get("sent", 0) for r in runs]],
            ["SLA steps (warnings, breaches, escalations)", *[r["sla_steps"] for r in runs]],
            ["re-routed on breach", *[r["rerouted"] for r in runs]],
        ],  # fmt: skip
        ["", *policies],
    )
    categories = sorted(runs[0]["sla_by_category"]) if runs else []
    by_category = _table(
        [
            [c, *[_pct(r["sla_by_category"][c][s]["compliance"]) for r in runs for s in STAGES]]
            for c in categories
        ],
        ["category", *[f"{p}: {s}" for p in policies for s in STAGES]],
    )
    districts = _table(
        [
            [
                d["name"],
                d["cases"],
                *[r["districts"][i]["inspectors"] for r in runs[:1]],
                *[r["districts"][i]["median_minutes_to_site"] for r in runs],
            ]
            for i, d in enumerate(runs[0]["districts"] if runs else [])
        ],  # fmt: skip
        ["district", "cases", "inspectors", *[f"{p}: median min to site" for p in policies]],
    )
    script = CHART_JS.read_text(encoding="utf-8") if CHART_JS.exists() else ""
    data = json.dumps(report, ensure_ascii=False).replace("</", "<\\/")
    title = (
        f"Dasan Field: a simulated day ({report['complaints']:,} reports, "
        f"{report['inspectors']} inspectors, seed {report['seed']})"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:72rem;margin:1rem auto;padding:0 1rem}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}td,th{{border:1px solid #ccc;
padding:.25rem .5rem;text-align:right}}td:first-child,th:first-child{{text-align:left}}
.charts{{display:grid;grid-template-columns:1fr 1fr;gap:1rem}}canvas{{max-height:22rem}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>From {html.escape(report["start"])}, {report["hours"]:g} hours; city speed
{report["city_speed_kmh"]:g} km/h; dispatch policies: {html.escape(", ".join(policies))}.
Figures from the server's statistics (SLA, districts) and the simulation's record (time to
site, utilisation).</p>
<h2>Policies side by side</h2>
{summary}
<div class="charts">
<figure><figcaption>SLA compliance per stage</figcaption><canvas id="sla"></canvas></figure>
<figure><figcaption>Time to site</figcaption><canvas id="site"></canvas></figure>
<figure><figcaption>Arrive-on-site compliance per category</figcaption>
<canvas id="arrive"></canvas></figure>
<figure><figcaption>Reports per inspector, per district</figcaption><canvas id="load"></canvas>
</figure>
<figure><figcaption>Inspector utilisation per district</figcaption><canvas id="use"></canvas>
</figure>
</div>
<h2>SLA compliance per category</h2>
{by_category}
<h2>Districts</h2>
{districts}
<script id="report" type="application/json">{data}</script>
<script>{script}</script>
<script>{_PAGE_SCRIPT}</script>
</body></html>
"""


def write(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """report.json and report.html in the folder; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    as_json = folder / "report.json"
    as_json.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    page = folder / "report.html"
    page.write_text(as_html(report), encoding="utf-8")
    return as_json, page
