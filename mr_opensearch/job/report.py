"""``mros report RUN``: one self-contained HTML page (figures inlined) plus the same figures as PNG.

What it reads from the run directory (each section says so when its input is missing):

* ``metrics.json``: the metrics table of every model against BM25, the base model and the MNRL recipe;
  mros against the MNRL recipe with the differences (:mod:`trainer.evaluation.mnrl_comparison`), or
  how to get it when the run has no MNRL baseline; the learned boundaries of each model (``boundaries``);
* ``plots/*.png``: score histograms by grade (test split) and the validation histograms with the
  learned boundaries drawn on them (base, Stage 1, Stage 2);
* ``labeler/metrics.json``: the labeler's held-out metrics; its confusion matrix is drawn again;
* ``ablation.json`` (or ``--ablation FILE``): rows ``{"variant": ..., metric: value, ...}``, as
  ``benchmarks/stage2_ablation.py`` writes them;
* ``engine/metrics.json``: in-engine retrieval quality, latency and throughput (``mros run``).

Written to ``RUN/report/index.html`` and ``RUN/report/figures/*.png`` unless told otherwise.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
from pathlib import Path
from typing import Any

from mr_opensearch.core.errors import MrosError

BASELINES = ("bm25", "base", "mnrl")
MODEL_LABELS = {
    "bm25": "BM25 (titles)",
    "base": "base model",
    "mnrl": "MNRL recipe",
    "stage1": "Stage 1",
    "stage2": "Stage 2",
    "stage1-int8-onnx": "Stage 1, int8 ONNX",
    "stage2-int8-onnx": "Stage 2, int8 ONNX",
}
NOT_METRICS = {"queries", "pairs", "queries_with_gain"}

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}tr.ours td{background:#f4fbf7}
td.best{font-weight:700}figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555}.missing{color:#8a6d3b;background:#fcf8e3;padding:.4rem .6rem;border-radius:4px}
code{background:#f5f5f5;padding:0 .2rem}
"""


LAYOUT_HINT = "rerun the step that writes it, or delete the file to leave its section out"


def _read_json(path: Path, kind: type | tuple[type, ...] = dict) -> Any | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MrosError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})", LAYOUT_HINT) from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise MrosError(f"{path}: unreadable ({exc})", LAYOUT_HINT) from None
    if not isinstance(data, kind):
        raise MrosError(f"{path}: expected a JSON {'object' if kind is dict else 'object or list'}, "
                        f"found {type(data).__name__}", LAYOUT_HINT)
    return data


def _section(source: Path, build: Any) -> str:
    """``build()``, with a file whose layout is not what mros writes reported against that file."""
    try:
        return build()
    except MrosError:
        raise
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        raise MrosError(f"{source}: not the layout mros writes ({type(exc).__name__}: {exc})", LAYOUT_HINT) from None


def _check_boundaries(run_dir: Path) -> None:
    """A corrupted or out-of-order ``boundaries.json`` stops the report (deploy would refuse it too)."""
    from mr_opensearch.search.served_model import read_boundaries_file

    path = run_dir / "boundaries.json"
    if not path.exists():
        return
    try:
        read_boundaries_file(path)
    except MrosError as exc:
        message = exc.message if str(path) in exc.message else f"{path}: {exc.message}"
        raise MrosError(message, "regenerate it: rerun `mros train --out RUN` (delete RUN/.steps/ to relearn "
                        "everything), or delete the file") from None


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]], highlight: bool = False, ours: set[int] | None = None) -> str:
    """An HTML table; with ``highlight`` the best numeric cell of each column is bold."""
    best: dict[int, float] = {}
    if highlight:
        for j in range(1, len(headers)):
            values = [r[j] for r in rows if isinstance(r[j], (int, float)) and not isinstance(r[j], bool)]
            if values and headers[j] not in NOT_METRICS:
                best[j] = max(values)
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>"]
    for i, row in enumerate(rows):
        cls = ' class="ours"' if ours and i in ours else ""
        cells = []
        for j, value in enumerate(row):
            is_best = j in best and isinstance(value, (int, float)) and value == best[j]
            attr = ' class="best"' if is_best else ""
            cells.append(f"<td{attr}>{_fmt(value)}</td>")
        out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _missing(text: str) -> str:
    return f'<p class="missing">{html.escape(text)}</p>'


class _Figures:
    """Copies PNGs into ``figures/`` and inlines them as data URIs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.names: list[str] = []

    def add(self, png: Path, caption: str) -> str:
        name = png.name
        if png.resolve() != (self.folder / name).resolve():
            shutil.copyfile(png, self.folder / name)
        self.names.append(name)
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(caption)} (<code>figures/{html.escape(name)}</code>)</figcaption></figure>")


def _metrics_section(metrics: dict | None) -> str:
    if not metrics or not metrics.get("splits"):
        return _missing("metrics.json is missing: run `mros train` (or `mros run`) into this directory first.")
    from trainer.evaluation.run_step import METRIC_ORDER

    parts = []
    for split, models in metrics["splits"].items():
        present = {k for m in models.values() for k, v in m.items() if isinstance(v, (int, float))}
        columns = [k for k in METRIC_ORDER if k in present]
        columns += sorted(present - set(columns) - NOT_METRICS)
        order = [k for k in models if k not in BASELINES] + [k for k in BASELINES if k in models]
        rows = [[MODEL_LABELS.get(name, name)] + [models[name].get(c) for c in columns] for name in order]
        ours = {i for i, name in enumerate(order) if name not in BASELINES}
        parts.append(f"<h3>{html.escape(split)} split</h3>")
        parts.append(_table(["model", *columns], rows, highlight=True, ours=ours))
        counts = next(iter(models.values()))
        if "queries" in counts:
            parts.append(f"<p>{int(counts['queries'])} queries, scored over the whole catalog.</p>")
    primary = metrics.get("primary_metric")
    if primary:
        parts.append(f"<p>Primary metric: <code>{html.escape(primary)}</code>; the best value of each column is bold, "
                     "mros's own models are shaded.</p>")
    return "\n".join(parts)


def _mnrl_section(metrics: dict | None) -> str:
    from trainer.evaluation.mnrl_comparison import HOW_TO_GET_IT, compare_with_mnrl

    if not metrics or not metrics.get("splits"):
        return _missing("metrics.json is missing: run `mros train` (or `mros run`) into this directory first.")
    comparison = compare_with_mnrl(metrics)
    if comparison is None:
        return _missing(f"Not measured: {HOW_TO_GET_IT}.")
    rows = [[row.metric, row.mros, row.mnrl, "–" if row.difference is None else f"{row.difference:+.4f}"]
            for row in comparison.rows]
    return (f"<p>{html.escape(comparison.split)} split; difference = mros − MNRL (higher is better).</p>"
            + _table(["metric", f"mros ({MODEL_LABELS.get(comparison.model, comparison.model)})", "MNRL recipe",
                      "difference"], rows))


def _boundaries_section(metrics: dict | None) -> str:
    compared = (metrics or {}).get("boundaries")
    if not compared:
        return _missing("no learned boundaries in metrics.json (they need a validation split).")
    rows = [[MODEL_LABELS.get(name, name), b.get("partial"), b.get("exact"), b.get("criterion"), b.get("accuracy"),
             b.get("test_accuracy")] for name, b in compared.items()]
    return _table(["model", "partial ≥ cosine", "exact ≥ cosine", "criterion", "3-class accuracy (validation)",
                   "3-class accuracy (test)"], rows)


def _labeler_section(run_dir: Path, figures: _Figures, labeler_dir: Path | None) -> str:
    folder = labeler_dir or run_dir / "labeler"
    lm = _read_json(folder / "metrics.json")
    if not lm:
        return _missing(f"no labeler metrics at {folder / 'metrics.json'} (train one with `mros label train`).")
    held_out = lm.get("test") or lm
    rows = [[key, held_out.get(key)] for key in ("accuracy", "within1_accuracy", "macro_f1") if key in held_out]
    parts = [_table(["held-out metric", "value"], rows)]
    cm = held_out.get("confusion_matrix")
    if cm:
        from trainer.labeler.metrics import plot_confusion_matrix

        png = plot_confusion_matrix(cm, figures.folder / "labeler_confusion_matrix.png",
                                    title=f"Labeler ({lm.get('backbone', '?')}), held-out queries")
        parts.append(figures.add(png, "Labeler confusion matrix on held-out queries (rows: true grade)"))
    return "\n".join(parts)


def _ablation_section(run_dir: Path, ablation: Path | None) -> str:
    rows = _read_json(ablation or run_dir / "ablation.json", (dict, list))
    if not rows:
        return _missing("no ablation.json in this run (see docs/benchmarks.md for the Stage 2 ablation on the shared data).")
    if isinstance(rows, dict):
        rows = rows.get("rows", [])
    columns = [k for k in rows[0] if k != "variant"]
    return _table(["variant", *columns], [[r.get("variant"), *[r.get(c) for c in columns]] for r in rows], highlight=True)


def _engine_section(run_dir: Path) -> str:
    em = _read_json(run_dir / "engine" / "metrics.json")
    if not em:
        return _missing("no in-engine measurements (engine/metrics.json): `mros run` writes them after deploying.")
    parts = []
    quality = em.get("quality") or {}
    if quality:
        parts.append(_table(["in-engine metric", "value"], [[k, v] for k, v in quality.items()]))
    latency = em.get("latency_ms") or {}
    if latency:
        parts.append(_table(["search latency (ms)", "value"], [[k, v] for k, v in latency.items()]))
    throughput = em.get("throughput") or {}
    if throughput:
        parts.append(_table(["throughput", "value"], [[k, v] for k, v in throughput.items()]))
    context = {k: v for k, v in em.items() if k not in ("quality", "latency_ms", "throughput") and not isinstance(v, dict | list)}
    if context:
        parts.append(_table(["setting", "value"], [[k, v] for k, v in context.items()]))
    return "\n".join(parts)


def build_report(run_dir: Path | str, out_dir: Path | str | None = None, labeler_dir: Path | None = None,
                 ablation: Path | None = None) -> Path:
    """Write ``OUT/index.html`` (self-contained) and ``OUT/figures/*.png``; returns the HTML path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MrosError(f"run directory {run_dir} does not exist", "pass the --out folder of `mros train` or `mros run`")
    metrics = _read_json(run_dir / "metrics.json")
    if metrics is None and not (run_dir / "engine" / "metrics.json").exists():
        raise MrosError(f"{run_dir} has no metrics.json: its `mros train` did not finish, or it is not a run directory",
                        "rerun `mros train --out RUN` (finished steps are skipped), then `mros report RUN`")
    _check_boundaries(run_dir)
    from mr_opensearch.core.safe_write import make_dir, write_text

    out = make_dir(Path(out_dir) if out_dir else run_dir / "report")
    figures = _Figures(out / "figures")
    config_text = (run_dir / "config.yaml").read_text(encoding="utf-8") if (run_dir / "config.yaml").exists() else ""
    splits = _read_json(run_dir / "splits.json") or {}

    plots = run_dir / "plots"
    score_figs = []
    for png in sorted(plots.glob("scores_*.png")) if plots.exists() else []:
        score_figs.append(figures.add(png, f"Cosine scores by grade, {png.stem.removeprefix('scores_')} split"))
    boundary_png = plots / "boundaries_validation.png"
    boundary_fig = figures.add(boundary_png, "Validation scores by grade with each model's learned boundaries") \
        if boundary_png.exists() else _missing("no boundaries plot (plots/boundaries_validation.png).")

    data_rows = _section(run_dir / "splits.json", lambda: [
        [name, c.get("queries"), c.get("pairs"), ", ".join(f"{k} {v}" for k, v in (c.get("grades") or {}).items())]
        for name, c in splits.items()])
    export = _section(run_dir / "metrics.json", lambda: dict((metrics or {}).get("export") or {}))
    sections = [
        ("Data", _table(["split", "queries", "pairs", "grades"], data_rows) if data_rows else _missing("no splits.json")),
        ("Retrieval quality against the baselines", _section(run_dir / "metrics.json", lambda: _metrics_section(metrics))),
        ("mros against the MNRL recipe", _section(run_dir / "metrics.json", lambda: _mnrl_section(metrics))),
        ("Score distributions by grade", "\n".join(score_figs) or _missing("no score histograms in plots/.")),
        ("Learned grade boundaries", _section(run_dir / "metrics.json", lambda: _boundaries_section(metrics)) + boundary_fig),
        ("Labeler", _section((labeler_dir or run_dir / "labeler") / "metrics.json",
                             lambda: _labeler_section(run_dir, figures, labeler_dir))),
        ("Ablation", _section(ablation or run_dir / "ablation.json", lambda: _ablation_section(run_dir, ablation))),
        ("In-engine evaluation (OpenSearch)", _section(run_dir / "engine" / "metrics.json", lambda: _engine_section(run_dir))),
        ("Export", _table(["export", "value"], [[k, v if not isinstance(v, dict) else json.dumps(v)] for k, v in export.items()])
         if export else _missing("no export in this run.")),
    ]
    body = [f"<h1>mros report: <code>{html.escape(run_dir.name)}</code></h1>",
            "<p>Graded-relevance embeddings (Mine and Refine, arXiv:2602.17654) trained and measured by mros.</p>"]
    for title, content in sections:
        body.append(f"<h2>{html.escape(title)}</h2>\n{content}")
    if config_text:
        body.append(f"<h2>Configuration</h2><details><summary>config.yaml</summary><pre>{html.escape(config_text)}</pre></details>")
    page = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mros report: {html.escape(run_dir.name)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    out.mkdir(parents=True, exist_ok=True)
    target = out / "index.html"
    return write_text(target, page)
