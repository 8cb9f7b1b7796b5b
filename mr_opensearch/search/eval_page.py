"""The HTML page of a live evaluation (``mros eval --alias ... --html FILE``): the metrics of each mode side
by side and, for each mode, the score distribution of each grade's judged hits as a plot (inline SVG, no
files beside the page, no plotting library on the serving path)."""

from __future__ import annotations

import html
from typing import Any

GRADE_COLOURS = {"exact": "#2e9e44", "partial": "#e0a019", "irrelevant": "#c8443c"}
METRICS = (("ndcg@10", "nDCG@10"), ("exact_precision@10", "exact precision@10"),
           ("irrelevant_rate@10", "irrelevant rate@10"), ("no_exact@10", "queries with no exact hit in the top 10"))


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.4f}"


def histogram_svg(distribution: dict[str, Any], width: int = 420, height: int = 180) -> str:
    """Each grade's histogram as a step line over the shared bins; the x axis is the mode's score."""
    edges = distribution.get("edges") or []
    if len(edges) < 2:
        return "<p>no judged hits</p>"
    counts = distribution["counts"]
    top = max(max(c) if c else 0 for c in counts.values()) or 1
    pad = 30
    sx = (width - 2 * pad) / (edges[-1] - edges[0])
    sy = (height - 2 * pad) / top

    def x(value: float) -> float:
        return pad + (value - edges[0]) * sx

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#555"/>',
             f'<text x="{pad}" y="{height - 8}" font-size="11">{edges[0]:.3f}</text>',
             f'<text x="{width - pad}" y="{height - 8}" font-size="11" text-anchor="end">{edges[-1]:.3f}</text>']
    for grade, colour in GRADE_COLOURS.items():
        points = []
        for i, count in enumerate(counts.get(grade, [])):
            y = height - pad - count * sy
            points += [f"{x(edges[i]):.1f},{y:.1f}", f"{x(edges[i + 1]):.1f},{y:.1f}"]
        if points:
            parts.append(f'<polyline class="grade-{grade}" fill="none" stroke="{colour}" stroke-width="2" '
                         f'points="{" ".join(points)}"/>')
    legend = " ".join(f'<tspan fill="{c}">{g} ({distribution["hits"].get(g, 0)})</tspan>' for g, c in GRADE_COLOURS.items())
    parts.append(f'<text x="{pad}" y="16" font-size="12">{legend}</text></svg>')
    return "".join(parts)


def eval_page(report: dict[str, Any]) -> str:
    """The page of an :func:`~mr_opensearch.search.live_eval.evaluate_live` report."""
    modes = list(report["modes"])
    head = "".join(f"<th>{html.escape(m)}</th>" for m in modes)
    rows = "".join(
        f"<tr><td>{label}</td>" + "".join(f"<td>{_fmt(report['modes'][m]['quality'].get(key))}</td>" for m in modes)
        + "</tr>" for key, label in METRICS)
    plots = "".join(f"<figure><figcaption>{html.escape(m)}: scores of judged hits by grade</figcaption>"
                    f"{histogram_svg(report['modes'][m].get('score_distribution') or {})}</figure>" for m in modes)
    coverage = report.get("coverage") or {}
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mros eval: {html.escape(report['alias'])}</title>
<style>body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }} td:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 1rem 1rem 0 0; }}</style></head>
<body><h1>mros eval: <code>{html.escape(report['alias'])}</code> ({html.escape(report['index'])})</h1>
<p>{report['queries']} judged queries; {coverage.get('found_products', '?')} of {coverage.get('judged_products', '?')}
judged products in the index; {html.escape(str(report['embedding']))} embedding.</p>
<table><tr><th></th>{head}</tr>{rows}</table>
{plots}
</body></html>
"""
