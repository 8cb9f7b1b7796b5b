"""The evaluation step of a run (and ``mros eval --run``): the graded evaluation of a run's model and its baselines on a split.

Models compared (each cached under ``RUN/eval/<split>/<name>.json``):

* ``stage1``: ``RUN/model``;
* ``stage1-int8-onnx``: the exported int8 ONNX model, pooled as ML Commons pools it;
* ``base``: the untouched base encoder;
* ``bm25``: BM25 over product texts;
* ``mnrl``: the base encoder fine-tuned with the standard MultipleNegativesRankingLoss recipe on
  exact pairs. The evaluation only loads it: the run's ``mnrl`` step (:func:`trainer.run.mnrl_step`)
  trains it into ``RUN/baselines/mnrl`` before the evaluation, and a missing model is an error.

A cache holds ``{"key", "metrics", "scores_by_grade", "ndcg_by_query"}`` (the judged pairs' scores by
grade in the split's order, and each query's nDCG@k); :func:`read_evaluation_cache` reads one back.
Caches written before ``ndcg_by_query`` existed lack it and are scored again by the next evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.hashing import file_key
from mr_opensearch.core.safe_write import write_text
from trainer.config import TrainConfig
from trainer.evaluation import BM25Scorer, DenseScorer, GradedRetrievalEvaluator
from trainer.evaluation.evaluator import scores_summary
from trainer.evaluation.plots import plot_score_histograms
from trainer.evaluation.scorers import dense_scorer
from trainer.run_layout import final_model_name, mnrl_baseline_dir
from trainer.steps import Steps, step_key
from trainer.vector_cache import CatalogVectors, run_vector_cache

ONNX_SUFFIX = "-int8-onnx"
"""Appended to the trained model's name for its exported int8 ONNX model (``stage2-int8-onnx``)."""
METRIC_ORDER = ["ndcg@10", "recall@100_partial+", "recall@100_exact", "rerank_ndcg@10",
                "auc_exact_vs_partial", "auc_partial_vs_irrelevant", "auc_exact_vs_irrelevant"]


def _scorer_factories(run_dir: Path, config: TrainConfig, data, progress: bool) -> dict[str, Callable[[], object]]:
    from trainer.encoder import load_encoder

    bs = config.eval.batch_size
    cache_dir = run_vector_cache(run_dir)
    factories: dict[str, Callable[[], object]] = {}

    def dense(path_or_name: str, name: str):
        return lambda: dense_scorer(load_encoder(path_or_name, config.model.max_seq_length), data.catalog, name, bs,
                                    progress, cache_dir)

    final = final_model_name(config)
    if config.stage2.enabled and (run_dir / "stage1-model").exists():
        factories["stage1"] = dense(str(run_dir / "stage1-model"), "stage1")
    if (run_dir / "model").exists():
        factories[final] = dense(str(run_dir / "model"), final)
    int8 = run_dir / "onnx" / "int8" / "model.onnx"
    if int8.exists():
        def onnx_scorer():
            from mr_opensearch.core.encoder_package import load_served_encoder

            enc = load_served_encoder(run_dir / "onnx", variant="int8")
            encode = lambda texts: enc.encode(texts, batch_size=bs)  # noqa: E731
            vectors = CatalogVectors(encode, data.catalog, file_key(int8), cache_dir)
            return DenseScorer(encode, data.catalog, f"{final}{ONNX_SUFFIX}", vectors)
        factories[f"{final}{ONNX_SUFFIX}"] = onnx_scorer
    if "base" in config.eval.baselines:
        factories["base"] = dense(config.model.base, "base")
    if "bm25" in config.eval.baselines:
        factories["bm25"] = lambda: BM25Scorer(data.catalog)
    if "mnrl" in config.eval.baselines:
        def mnrl():
            return dense(str(trained_mnrl_model(run_dir)), "mnrl")()
        factories["mnrl"] = mnrl
    return factories


def trained_mnrl_model(run_dir: Path) -> Path:
    """The MNRL baseline's model, trained by the run's ``mnrl`` step; a :class:`MrosError` naming that
    step when it is missing (the evaluation never trains it)."""
    model = mnrl_baseline_dir(run_dir) / "model"
    if not model.is_dir():
        raise MrosError(f"{model} not found: the MNRL baseline (eval.baselines includes mnrl) has not been trained "
                        f"in {run_dir}, and the evaluation does not train it",
                        f"train it with the `mnrl` step of `mros train`: rerun `mros train --out {run_dir}` with the "
                        "run's config (finished steps are skipped), or remove mnrl from eval.baselines")
    return model


def scored_model_key(run_dir: Path, name: str, config: TrainConfig, steps: Steps) -> str:
    """What the model ``name``'s cached metrics depend on: the step that trained it (its marker's key),
    the MNRL recipe's config (the MNRL baseline), nothing (BM25, base model), and for an
    exported ONNX model also the exported file's bytes, so a re-export (other opset, fusion, quantization)
    is evaluated again instead of reusing the previous export's figures."""
    if name == "mnrl":
        return json.dumps(config.mnrl.model_dump(), sort_keys=True)
    if name.endswith(ONNX_SUFFIX):
        exported = run_dir / "onnx" / "int8" / "model.onnx"
        return steps.key_of(name.removesuffix(ONNX_SUFFIX)) + (file_key(exported) if exported.exists() else "")
    return steps.key_of(name)


def evaluated_judgments(judgments, config: TrainConfig):
    """The judgments of a split that the evaluation scores: all, or the first ``eval.max_queries``
    queries in sorted order."""
    if config.eval.max_queries:
        return judgments.for_queries(sorted(judgments.queries)[: config.eval.max_queries])
    return judgments


def evaluate_run(run_dir: Path, config: TrainConfig, data, progress: bool = True, log: Callable[[str], None] = print,
                 steps=None, data_key: str = "", splits: list[str] | None = None) -> dict:
    steps = steps or Steps(run_dir)
    factories = _scorer_factories(run_dir, config, data, progress)
    results: dict[str, dict[str, dict]] = {}
    for split in splits or config.eval.splits:
        judgments = evaluated_judgments(data.splits[split], config)
        if len(judgments) == 0:
            log(f"evaluate {split}: the split has no queries, skipped")
            continue
        evaluator = GradedRetrievalEvaluator(judgments, data.catalog, config.eval.ndcg_k, config.eval.recall_k, split)
        out_dir = run_dir / "eval" / split
        out_dir.mkdir(parents=True, exist_ok=True)
        results[split] = {}
        panels = {}
        for name, factory in factories.items():
            cache = out_dir / f"{name}.json"
            key = step_key(data_key, json.dumps(config.eval.model_dump(), sort_keys=True),
                           scored_model_key(run_dir, name, config, steps))
            previous = json.loads(cache.read_text()) if cache.exists() else {}
            # a cache from before per-query nDCG was kept is scored again (the bootstrap needs it)
            if previous.get("key") == key and "ndcg_by_query" in previous:
                cached = previous
                log(f"evaluate {split}/{name}: cached")
            else:
                log(f"evaluate {split}/{name}: {len(judgments.queries)} queries over {len(data.catalog)} products")
                result = evaluator(factory())
                cached = {"key": key, "metrics": result.metrics, "scores_by_grade": result.scores_by_grade,
                          "ndcg_by_query": result.ndcg_by_query}
                write_text(cache, json.dumps(cached))
            results[split][name] = {**cached["metrics"], "score_quantiles": scores_summary(cached["scores_by_grade"])}
            if name in ("base", "mnrl", "stage1", "stage2"):
                panels[name] = cached["scores_by_grade"]
        if panels:
            plot_score_histograms(panels, run_dir / "plots" / f"scores_{split}.png",
                                  title=f"cosine scores of judged pairs by grade ({split} split)")
    metrics = {"primary_metric": f"ndcg@{config.eval.ndcg_k}", "splits": results}
    write_text(run_dir / "metrics.md", metrics_markdown(results))
    return metrics


def evaluation_cache_path(run_dir: Path, split: str, name: str) -> Path:
    return Path(run_dir) / "eval" / split / f"{name}.json"


def read_evaluation_cache(run_dir: Path, split: str, name: str,
                          fields: Sequence[str] = ("metrics", "scores_by_grade")) -> dict:
    """The evaluation cache of model ``name`` on ``split`` (``RUN/eval/<split>/<name>.json``), with a
    clear error when it is missing, unreadable or lacks one of ``fields`` (a cache written by an older
    version, e.g. without ``ndcg_by_query``: the next evaluation scores the model again)."""
    path = evaluation_cache_path(run_dir, split, name)
    evaluate = f"`mros eval --run {run_dir} --split {split}`"
    if not path.exists():
        raise MrosError(f"{path} not found: model {name!r} has not been evaluated on the {split} split of {run_dir}",
                        f"evaluate it with {evaluate} (or `mros train`); check the model name and --split")
    try:
        cached = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MrosError(f"{path}: not a readable evaluation cache ({exc})",
                        f"delete it and run {evaluate} again") from None
    missing = [f for f in fields if not isinstance(cached, dict) or f not in cached]
    if missing:
        raise MrosError(f"{path} lacks {', '.join(missing)}: it was written by an older version of the evaluation",
                        f"re-run the evaluation of {name!r}: run {evaluate} (or the train step) again; "
                        "only models whose cache lacks it are scored again")
    return cached


def metrics_markdown(results: dict[str, dict[str, dict]]) -> str:
    lines = []
    for split, models in results.items():
        lines.append(f"### {split} split\n")
        lines.append("| model | " + " | ".join(METRIC_ORDER) + " |")
        lines.append("|---|" + "---|" * len(METRIC_ORDER))
        for name, m in models.items():
            cells = [f"{m[k]:.4f}" if isinstance(m.get(k), (int, float)) else "–" for k in METRIC_ORDER]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
