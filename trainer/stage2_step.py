"""The Stage 2 step of a run (``mros train``; the training itself: :mod:`trainer.stage2`): mine with the Stage 1 model, grade with the labeler, augment,
train with the graded circle loss. Outputs ``RUN/model`` (final), ``RUN/mined.parquet`` (+ ``mined.json``, reused on rerun) and
``RUN/stage2.json``; skipped on rerun when its inputs did not change."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.safe_write import write_text


def labeler_function(path: Path, batch_size: int = 128, progress: bool = False):
    """Adapt a labeler directory (``mros label train``) to ``(queries, texts) -> (grades, probs)``.
    A labeler whose stack is a pickle (saved by an older mros) is refused: training never unpickles."""
    from trainer.labeler.model import Labeler

    if not Path(path).exists():
        raise MrosError(f"labeler {path} not found", "train one with `mros label train`, or unset stage2.labeler")
    labeler = Labeler.load(path)

    def grade(queries: list[str], texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        probs = labeler.predict_proba(list(zip(queries, texts, strict=True)), batch_size, progress)
        return probs.argmax(axis=1), probs

    return grade


def band_centers(mode: str, learned: dict, by_grade: dict[str, list[float]]) -> tuple[float, float]:
    """The circle loss's two band centres from Stage 1's validation scores.

    ``auto``: Stage 1's learned thresholds (accuracy-optimal, so they follow the class priors).
    ``medians``: half-way between the median scores of irrelevant and partial pairs, and of partial
    and exact pairs, whatever the priors; it falls back to the thresholds when a grade has no
    validation pairs. Centres closer than 0.05 are moved 0.1 apart."""
    centers = (learned["partial"], learned["exact"])
    if mode == "medians" and all(by_grade.get(g) for g in ("irrelevant", "partial", "exact")):
        med = {g: float(np.median(by_grade[g])) for g in ("irrelevant", "partial", "exact")}
        centers = ((med["irrelevant"] + med["partial"]) / 2, (med["partial"] + med["exact"]) / 2)
    if centers[1] - centers[0] < 0.05:  # degenerate: keep the bands apart
        mid = sum(centers) / 2
        centers = (mid - 0.05, mid + 0.05)
    return float(centers[0]), float(centers[1])


def labeler_identity(labeler_dir: Path | None) -> tuple[str, dict]:
    """What identifies the configured labeler in the step keys (its ``metrics.json`` text, else its path;
    empty without one) and its held-out metrics (empty when it has no ``metrics.json``)."""
    if labeler_dir is None:
        return "", {}
    meta = Path(labeler_dir) / "metrics.json"
    if not meta.exists():
        return str(labeler_dir), {}
    text = meta.read_text()
    return text, json.loads(text)


def stage2_centers(scorer, config, data, info: dict, log: Callable[[str], None]) -> tuple[float, float]:
    """The circle loss's band centres: given in the config, else learned from Stage 1's validation scores
    (:func:`band_centers`; the learned boundaries go to ``info["stage1_boundaries"]``), else 0.35 / 0.6
    without a validation split."""
    from trainer.boundary_step import scorer_boundaries

    cfg = config.stage2
    if isinstance(cfg.circle.centers, str) and len(data.splits["validation"]) == 0:
        centers = (0.35, 0.6)
        log("stage 2: no validation split to learn Stage 1 boundaries from; band centres default to 0.35 / 0.6")
    elif isinstance(cfg.circle.centers, str):
        scorer.vectors.load_or_encode()  # mining needs the whole catalog anyway; boundaries reuse it
        learned, by_grade = scorer_boundaries(scorer, config, data)
        info["stage1_boundaries"] = {"partial": learned["partial"], "exact": learned["exact"]}
        centers = band_centers(cfg.circle.centers, learned, by_grade)
    else:
        centers = tuple(cfg.circle.centers)
    log(f"stage 2: circle-loss band centres partial {centers[0]:.3f}, exact {centers[1]:.3f}")
    return centers


def stage2_labeler(cfg, held_out: dict, progress: bool, log: Callable[[str], None]):
    """The labeler grading mined pairs (None without one), with a warning in the log when its held-out
    accuracy is no better than the majority baseline."""
    labeler = labeler_function(cfg.labeler, progress=progress) if cfg.labeler else None
    if labeler is None:
        log("stage 2: no labeler configured (stage2.labeler): mining keeps contradicting judgments only")
    elif held_out.get("accuracy") is not None and held_out["accuracy"] <= held_out.get("majority_baseline_accuracy", 0.0):
        log(f"stage 2: warning: the labeler's held-out accuracy {held_out['accuracy']:.3f} is no better than always "
            f"answering the majority grade ({held_out['majority_baseline_accuracy']:.3f}); only its labels with "
            f"probability >= {cfg.mining.min_confidence} are used")
    return labeler


def mining_step(run_dir: Path, config, data, steps, mining_key: str, scorer, labeler, centers: tuple[float, float],
                info: dict, log: Callable[[str], None]):
    """Mine the Stage 1 model's neighbours of the training queries (graded by the labeler) into
    ``RUN/mined.parquet`` + ``mined.json``, or reuse them when done for the same inputs; sets
    ``info["mining"]`` and returns the mined pairs."""
    from trainer.mining import mine

    cfg = config.stage2
    mined_path, stats_path = run_dir / "mined.parquet", run_dir / "mined.json"
    if steps.done("mining", mining_key) and mined_path.exists() and stats_path.exists():
        import pandas as pd

        log("stage 2: mining already done, reusing RUN/mined.parquet")
        mined_pairs, info["mining"] = pd.read_parquet(mined_path), json.loads(stats_path.read_text())
    else:
        log(f"stage 2: mining top-{cfg.mining.k} neighbours of {len(data.splits['train'].queries)} training queries")
        mined = mine(scorer.encode, data.splits["train"], data.catalog, cfg.mining,
                     boundaries=info.get("stage1_boundaries") or {"partial": centers[0], "exact": centers[1]},
                     labeler=labeler, product_vectors=scorer.vectors.load_or_encode())
        mined.pairs.to_parquet(mined_path, index=False)
        write_text(stats_path, json.dumps(mined.stats, indent=2))
        steps.mark("mining", mining_key)
        mined_pairs, info["mining"] = mined.pairs, mined.stats
    log(f"stage 2: mined {info['mining']}")
    return mined_pairs


def synthetic_step(run_dir: Path, config, data, labeler, progress: bool, info: dict, log: Callable[[str], None]):
    """Synthetic queries for training products when ``stage2.synthetic`` is on (stats into
    ``info["synthetic"]``); None otherwise."""
    cfg = config.stage2
    if not cfg.synthetic.enabled:
        return None
    from trainer.augment.synthetic import synthesize

    log(f"stage 2: synthetic queries with {cfg.synthetic.backbone} for up to {cfg.synthetic.max_products} products")
    synthetic, info["synthetic"] = synthesize(data.splits["train"], data.catalog, cfg.synthetic, labeler, progress, run_dir)
    return synthetic


def run_stage2(run_dir: Path, config, data, steps, stage1_key: str, progress: bool,
               log: Callable[[str], None]) -> tuple[str, dict]:
    """Stage 2 from the Stage 1 model: band centres, labeler, mining, augmentation, circle-loss training;
    writes ``RUN/model`` and ``RUN/stage2.json``. Returns the step's key and its info; skipped when done
    for the same inputs (Stage 1 model, Stage 2 config, labeler)."""
    from trainer.config import key_data
    from trainer.encoder import load_encoder
    from trainer.evaluation.scorers import dense_scorer
    from trainer.run_layout import stage1_model_dir
    from trainer.stage2 import combine_training_pairs, train_stage2
    from trainer.steps import step_key
    from trainer.vector_cache import run_vector_cache

    cfg = config.stage2
    labeler_id, held_out = labeler_identity(cfg.labeler)
    key = step_key(stage1_key + json.dumps(key_data(("stage2",), cfg), sort_keys=True) + labeler_id)
    info_path = run_dir / "stage2.json"
    if steps.done("stage2", key) and (run_dir / "model").exists() and info_path.exists():
        log("stage 2: already trained, skipping")
        return key, json.loads(info_path.read_text())
    start = time.time()
    info: dict = {}
    # the Stage 1 model's catalog vectors: encoded once, shared by boundaries, mining and evaluation
    model = load_encoder(str(stage1_model_dir(run_dir, config)), config.model.max_seq_length)
    scorer = dense_scorer(model, data.catalog, "stage1", config.eval.batch_size, progress, run_vector_cache(run_dir))
    centers = stage2_centers(scorer, config, data, info, log)
    labeler = stage2_labeler(cfg, held_out, progress, log)
    mining_key = step_key(stage1_key + json.dumps(key_data(("stage2", "mining"), cfg.mining), sort_keys=True) + labeler_id)
    mined_pairs = mining_step(run_dir, config, data, steps, mining_key, scorer, labeler, centers, info, log)
    synthetic = synthetic_step(run_dir, config, data, labeler, progress, info, log)
    pairs = combine_training_pairs(data.splits["train"], mined_pairs, cfg.spelling, synthetic)
    info["train_pairs"] = len(pairs)
    info["training"] = train_stage2(model, pairs, data.catalog, cfg, centers, run_dir, progress,
                                    stage1=config.stage1)
    model.save(str(run_dir / "model"))
    info["seconds"] = time.time() - start
    write_text(info_path, json.dumps(info, indent=2))
    steps.mark("stage2", key)
    return key, info
