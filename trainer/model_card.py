"""The run's model card (``RUN/README.md``), in the Hugging Face model-card conventions.

The card opens with YAML metadata as :class:`huggingface_hub.ModelCardData` writes it (rendered by
it when ``huggingface_hub`` is importable, which it is wherever sentence-transformers is; the same
mapping is dumped with PyYAML otherwise):

* ``library_name: sentence-transformers``, ``pipeline_tag: sentence-similarity`` and ``tags``;
* ``base_model`` (the config's ``model.base``), ``datasets`` (the data folder's name;
  :data:`DATASET_PLACEHOLDER` when it has none), ``language`` and ``license`` when the base model's
  own card states them (a local base model's ``README.md``; a fine-tune keeps its base's licence);
* ``model-index`` with the run's final model's metrics on the test split: nDCG@10, the three
  grade-separation AUCs and the 3-class accuracy at the learned boundaries.

The text says what the card describes, read from the run rather than assumed: the stage (Stage 1
only, or Stage 1 + Stage 2) from the config and ``metrics.json``, and the pooling and normalisation
from the saved model's ``modules.json`` and pooling config. It ends with the comparison against the
MNRL recipe (:mod:`trainer.evaluation.mnrl_comparison`), or how to get it.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from mr_opensearch.core.safe_write import write_text
from trainer.config import TrainConfig
from trainer.evaluation.mnrl_comparison import AUCS, BOUNDARY_ACCURACY, compare_with_mnrl, comparison_markdown
from trainer.evaluation.run_step import metrics_markdown

TAGS = ["sentence-transformers", "feature-extraction", "sentence-similarity", "mros", "graded-relevance",
        "product-search", "opensearch"]
DATASET_PLACEHOLDER = "local-graded-judgments"
"""``datasets`` entry when the data folder has no usable name (not a Hub dataset: a local folder)."""
TASK = {"type": "text-retrieval", "name": "Graded product retrieval"}
METRIC_NAMES = {"auc_exact_vs_partial": "AUC exact vs partial", "auc_partial_vs_irrelevant": "AUC partial vs irrelevant",
                "auc_exact_vs_irrelevant": "AUC exact vs irrelevant", BOUNDARY_ACCURACY: "3-class accuracy at the learned boundaries"}
POOLING_WORDS = {"mean": "mean pooling", "cls": "CLS-token pooling", "max": "max pooling",
                 "mean_sqrt_len_tokens": "mean pooling scaled by sqrt(length)", "weightedmean": "position-weighted mean pooling",
                 "lasttoken": "last-token pooling"}
_LEGACY_POOLING_KEYS = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                        "pooling_mode_mean_tokens": "mean", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                        "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}


def describe_stages(config: TrainConfig, metrics: dict) -> str:
    """``"Stage 1 + Stage 2"`` when the run trained Stage 2 (its config enables it and ``metrics.json``
    holds its step), else ``"Stage 1 only"``."""
    return "Stage 1 + Stage 2" if config.stage2.enabled and metrics.get("stage2") is not None else "Stage 1 only"


def read_pooling(model_dir: Path) -> tuple[list[str], bool] | None:
    """``(pooling modes, L2-normalised)`` of a saved sentence-transformers model, from its
    ``modules.json`` and the pooling module's ``config.json`` (both the ``pooling_mode`` key and the
    older ``pooling_mode_*`` flags); ``None`` when the model directory does not say."""
    modules_file = model_dir / "modules.json"
    if not modules_file.exists():
        return None
    modules = json.loads(modules_file.read_text())
    kinds = {m.get("type", "").rsplit(".", 1)[-1]: m for m in modules}
    normalised = "Normalize" in kinds
    pooling = kinds.get("Pooling")
    if pooling is None:
        return None
    config_file = model_dir / pooling.get("path", "") / "config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    mode = config.get("pooling_mode")
    if mode is None:
        modes = [name for key, name in _LEGACY_POOLING_KEYS.items() if config.get(key)] or ["mean"]
    else:
        modes = [mode] if isinstance(mode, str) else list(mode)
    return modes, normalised


def pooling_text(model_dir: Path) -> str:
    found = read_pooling(model_dir)
    if found is None:
        return "pooling not recorded in the saved model"
    modes, normalised = found
    words = " + ".join(POOLING_WORDS.get(m, f"{m} pooling") for m in modes)
    return f"{words}, {'L2-normalised' if normalised else 'not normalised'}"


def base_model_card(base: str) -> dict:
    """The YAML metadata of the base model's own card, when the base is a local directory with one."""
    from trainer.encoder import resolve_model_path

    readme = Path(resolve_model_path(base)) / "README.md"
    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    try:
        data = yaml.safe_load(text.split("---", 2)[1])
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def dataset_name(config: TrainConfig) -> str:
    from mr_opensearch.core.paths import data_dir

    name = data_dir(config.data.dir).name
    return name or DATASET_PLACEHOLDER


def _test_metrics(metrics: dict) -> tuple[str | None, str | None, list[tuple[str, str, float]]]:
    """``(split, model, [(metric type, readable name, value)])`` of the run's final model."""
    splits = metrics.get("splits") or {}
    split = "test" if "test" in splits else next(iter(splits), None)
    models = splits.get(split) or {}
    model = next((m for m in ("stage2", "stage1") if m in models), None)
    if model is None:
        return split, None, []
    values = models[model]
    primary = metrics.get("primary_metric") or "ndcg@10"
    found = []
    for key in (primary, *AUCS):
        if isinstance(values.get(key), (int, float)):
            found.append((key.replace("@", "_at_"), METRIC_NAMES.get(key, key.replace("ndcg@", "nDCG@")), float(values[key])))
    accuracy = ((metrics.get("boundaries") or {}).get(model) or {}).get("test_accuracy")
    if isinstance(accuracy, (int, float)):
        found.append((BOUNDARY_ACCURACY, METRIC_NAMES[BOUNDARY_ACCURACY], float(accuracy)))
    return split, model, found


def card_metadata(run_dir: Path, config: TrainConfig, metrics: dict) -> dict:
    """The card's metadata as a plain mapping, in the layout ``ModelCardData.to_dict()`` gives."""
    base_card = base_model_card(config.model.base)
    dataset = dataset_name(config)
    data: dict = {"base_model": config.model.base, "datasets": [dataset]}
    for key in ("language", "license"):
        if base_card.get(key):
            data[key] = base_card[key]
    data.update({"library_name": "sentence-transformers", "pipeline_tag": "sentence-similarity", "tags": list(TAGS)})
    split, _, found = _test_metrics(metrics)
    if found:
        data["model-index"] = [{"name": f"mros-{run_dir.name}", "results": [{
            "task": dict(TASK),
            "dataset": {"name": dataset, "type": dataset, "split": split},
            "metrics": [{"type": kind, "value": value, "name": name} for kind, name, value in found],
        }]}]
    return data


def render_metadata(data: dict) -> str:
    """The YAML between the card's ``---`` lines: by :class:`huggingface_hub.ModelCardData` when it is
    importable (so the Hub reads back exactly what it writes), else the same mapping by PyYAML."""
    try:
        from huggingface_hub import EvalResult, ModelCardData
    except ImportError:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip()
    fields = {k: v for k, v in data.items() if k != "model-index"}
    results = []
    for index in data.get("model-index", []):
        fields["model_name"] = index["name"]
        for res in index["results"]:
            for metric in res["metrics"]:
                results.append(EvalResult(task_type=res["task"]["type"], task_name=res["task"]["name"],
                                          dataset_type=res["dataset"]["type"], dataset_name=res["dataset"]["name"],
                                          dataset_split=res["dataset"]["split"], metric_type=metric["type"],
                                          metric_value=metric["value"], metric_name=metric["name"]))
    return ModelCardData(eval_results=results or None, **fields).to_yaml()


def write_model_card(run_dir: Path, config: TrainConfig, metrics: dict, split_counts: dict) -> Path:
    env = json.loads((run_dir / "environment.json").read_text()) if (run_dir / "environment.json").exists() else {}
    export = metrics.get("export") or {}
    stages = describe_stages(config, metrics)
    pooling = pooling_text(run_dir / "model")
    stage_words = ("Stage 1 (graded supervised contrastive training) and Stage 2 (mining with the Stage 1 model, "
                   "grading with the labeler, graded circle loss)" if stages == "Stage 1 + Stage 2" else
                   "Stage 1 only (graded supervised contrastive training; no Stage 2 refinement)")
    meta = card_metadata(run_dir, config, metrics)
    lines = [
        "---", render_metadata(meta), "---", "",
        f"# mros model `{run_dir.name}`",
        "",
        f"A Siamese two-tower text encoder (shared weights, {pooling}) fine-tuned on graded",
        f"(exact / partial / irrelevant) judgments. This card describes **{stages}** of *Mine and Refine*",
        f"(arXiv:2602.17654): {stage_words}; trained with [mros](https://pypi.org/project/mros/).",
        "",
        f"- stages: {stages}",
        f"- pooling: {pooling}",
        f"- base model: `{config.model.base}`"
        + (f" (language and licence from its card: {meta.get('language', '–')}, {meta.get('license', '–')})"
           if "language" in meta or "license" in meta else ""),
        "",
        "## Data",
        f"- catalog: `{config.data.catalog_path()}`; judgments: `{config.data.judgments_path()}`",
        f"- grade mapping: exact >= {config.data.grade_mapping.exact}, partial >= {config.data.grade_mapping.partial}",
        f"- query-level splits (seed {config.data.split.seed}):",
    ]
    for name, c in split_counts.items():
        lines.append(f"  - {name}: {c['queries']} queries, {c['pairs']} pairs, grades {c['grades']}")
    lines += ["", "## Training", f"- base model: `{config.model.base}`", f"- stages: {stages}"]
    for key, value in (metrics.get("training") or {}).items():
        lines.append(f"- {key}: {value}")
    lines += ["", "## Metrics", "", metrics_markdown(metrics.get("splits", {})), "",
              "## Against the MNRL recipe", "",
              "The standard sentence-transformers recipe (MultipleNegativesRankingLoss on exact pairs, same base",
              "model and data) as a baseline.", "", comparison_markdown(compare_with_mnrl(metrics)), ""]
    if (run_dir / "plots").exists():
        for png in sorted((run_dir / "plots").glob("*.png")):
            lines.append(f"![{png.stem}](plots/{png.name})")
        lines.append("")
    if export:
        lines += ["## Export", "", "`onnx/ml-commons.zip` is ready for OpenSearch ML Commons (see `onnx/ml-commons.json`).", ""]
        for key, value in export.items():
            lines.append(f"- {key}: {value}")
        lines.append("")
    lines += ["## Usage", "", "```python", "from sentence_transformers import SentenceTransformer",
              f"model = SentenceTransformer('{run_dir / 'model'}')", "emb = model.encode(['cordless drill'])", "```", "",
              "## Configuration", "", "```yaml", config.dump_yaml().rstrip(), "```", "",
              "## Environment", "", "```json", json.dumps(env, indent=2), "```", ""]
    path = run_dir / "README.md"
    return write_text(path, "\n".join(lines))
