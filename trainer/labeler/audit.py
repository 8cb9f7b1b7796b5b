"""Engagement-driven label audit: flag labels that engagement contradicts, re-judge them.

1. **Baselines.** For the chosen signal (clicks by default; add-to-carts or orders work the same
   way) the pooled rate of each grade over all labeled pairs with engagement:

       p_g = sum_{i: label_i = g} x_i / sum_{i: label_i = g} n_i

   where ``n_i`` are impressions and ``x_i`` signal counts. Pooled (not per-pair averaged) rates
   weight pairs by traffic. Label noise contaminates the baselines only in proportion to its rate.

2. **Tests.** Each pair with ``n_i >= min_impressions`` is tested against the baseline of its label
   with exact one-sided binomial tests, ``X ~ Binomial(n_i, p_g)``:

   - *over-engaged* (the label may be too low; grades irrelevant and partial):
     ``p = P(X >= x_i) = binom.sf(x_i - 1, n_i, p_g)``
   - *under-engaged* (the label may be too high; grades partial and exact):
     ``p = P(X <= x_i) = binom.cdf(x_i, n_i, p_g)``

   p-values of all tests are adjusted with Benjamini-Hochberg (false discovery rate ``alpha``).
   A pair is flagged when its adjusted p-value ``q <= alpha`` **and** the deviation is large enough
   to look like another grade: its rate ``x_i / n_i`` lies beyond the midpoint between its grade's
   baseline and the neighbouring grade's (``(p_g + p_{g+1}) / 2`` upwards, ``(p_{g-1} + p_g) / 2``
   downwards). The Wilson score interval of each tested pair's rate (``z = 1.96``)::

       (p^ + z^2/2n +- z sqrt(p^(1-p^)/n + z^2/4n^2)) / (1 + z^2/n)

   is reported for reading, not used in the decision.

   The log has no positions, so baselines average over positions: an exact product the engine
   ranks low can look under-engaged. That is why flags are only candidates, decided by the judge.
   With ``baseline="query"`` each expected rate is scaled by the query's leave-one-out engagement
   factor ``f_i = (X_q - x_i) / (E_q - n_i p_{g_i})`` (``X_q``: the query's signal count,
   ``E_q = sum_{j in q} n_j p_{g_j}``: its expected count under the grade baselines; clipped to
   [0.25, 4]), which absorbs query-level differences such as many exact products competing for the
   top ranks; on the simulated Home Depot validation queries it changed precision/recall by about
   one point, so the default stays ``global``.

3. **Judge.** Flagged pairs go to a stronger judge: the mean calibrated probabilities of the
   labeler under test-time augmentation (identity, lowercased, punctuation-stripped inputs) and of
   any additional labelers given. The label changes only when the judge's most probable grade lies
   in the direction engagement points (higher for over-engaged, lower for under-engaged) and its
   probability is at least ``min_judge_confidence``; otherwise the original label stands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from pydantic import Field

from trainer.data import Catalog
from trainer.grades import Grade
from trainer.strict import StrictModel

ESTIMATORS = ("impressions", "coec", "coec_srw", "pbm")


class AuditConfig(StrictModel):
    signal: str = Field("clicks", pattern="^(clicks|add_to_carts|orders)$")
    estimator: str = Field("impressions", pattern="^(impressions|coec|coec_srw|pbm)$",
                           description="impressions: binomial tests on raw impressions (a log without positions); "
                           "coec / coec_srw: Poisson tests against position-corrected expected counts "
                           "(trainer.labeler.ubi.aggregate_pairs)")
    min_impressions: int = Field(30, ge=1, description="pairs with fewer impressions are 'not enough evidence'")
    on_flag: str = Field("rejudge", pattern="^(rejudge|drop)$",
                         description="rejudge: the judge decides a flagged pair's grade; drop: flagged pairs leave "
                         "the corrected labels")
    alpha: float = Field(0.01, gt=0, lt=1, description="Benjamini-Hochberg false discovery rate")
    require_midpoint: bool = True
    baseline: str = Field("global", pattern="^(global|query)$",
                          description="global: p_g; query: p_g scaled by the query's leave-one-out engagement factor")
    min_judge_confidence: float = Field(0.0, ge=0, le=1)
    augmentations: list[str] = Field(default_factory=lambda: ["identity", "lowercase", "strip_punct"])


def wilson_interval(successes, trials, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (arrays allowed; ``trials > 0``)."""
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    p = x / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def benjamini_hochberg(p_values) -> np.ndarray:
    """BH-adjusted p-values (q-values): ``q_(i) = min_{j >= i} min(1, m p_(j) / j)``."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    out = np.empty(m)
    out[order] = q
    return out


def grade_baselines(frame: pd.DataFrame, signal: str) -> dict[int, float]:
    """Pooled rate of ``signal`` per impression for each labeled grade (NaN when a grade is absent)."""
    out = {}
    for g in Grade:
        rows = frame[frame["grade"] == int(g)]
        n = rows["impressions"].sum()
        out[int(g)] = float(rows[signal].sum() / n) if n > 0 else float("nan")
    return out


def query_factors(frame: pd.DataFrame, base: np.ndarray, signal: str, clip: tuple[float, float] = (0.25, 4.0)) -> np.ndarray:
    """Leave-one-out engagement factor of each pair's query (see the module docstring):
    ``f_i = (X_q - x_i) / (E_q - n_i p_{g_i})`` with ``X_q`` the query's signal count and
    ``E_q = sum_j n_j p_{g_j}`` its expected count; 1 where the rest of the query has no expected
    engagement; clipped to ``clip``."""
    x = frame[signal].to_numpy(dtype=np.float64)
    expected = frame["impressions"].to_numpy(dtype=np.float64) * np.nan_to_num(base)
    keys = frame["query"]
    total_x = frame.assign(_x=x).groupby("query")["_x"].transform("sum").to_numpy()
    total_e = frame.assign(_e=expected).groupby(keys)["_e"].transform("sum").to_numpy()
    rest_x, rest_e = total_x - x, total_e - expected
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(rest_e > 0, rest_x / np.where(rest_e > 0, rest_e, 1.0), 1.0)
    return np.clip(f, *clip)


def flag_pairs(labels: pd.DataFrame, engagement: pd.DataFrame, config: AuditConfig | None = None) -> pd.DataFrame:
    """Join labels (``query, product_uid, grade``) with the log and run the tests.

    Returns one row per label with ``impressions``, the signal count, ``rate``, ``tested``,
    ``direction`` (``over``/``under``/""), ``p_value``, ``q_value``, ``confidence`` (``1 - q`` of a flagged
    pair), ``wilson_low/high`` and ``flagged``. Labels without engagement are kept, untested. Baselines are
    in ``frame.attrs``.

    With a position-corrected ``estimator`` (``coec``, ``coec_srw``) the log must have the column
    ``exposure_<estimator>`` (expected clicks of an average product at the ranks this one was shown,
    :func:`trainer.labeler.ubi.aggregate_pairs`): ``rate`` is then the COEC ``x / e``, each grade's baseline
    the pooled ``sum x / sum e``, and the tests are Poisson, ``X ~ Poisson(e p_g)`` (``sf(x - 1)`` over,
    ``cdf(x)`` under); a pair with ``e = 0`` is untested."""
    from scipy.stats import binom, poisson

    config = config or AuditConfig()
    sig = config.signal
    exposure_col = None if config.estimator == "impressions" else f"exposure_{config.estimator}"
    wanted = ["query", "product_uid", "impressions", sig] + ([exposure_col] if exposure_col else [])
    if exposure_col and exposure_col not in engagement.columns:
        from mr_opensearch.core.errors import MrosError

        raise MrosError(f"the {config.estimator} estimator needs positions, and this engagement log has none",
                        "use a UBI log (--ubi), or --estimator impressions")
    frame = labels[["query", "product_uid", "grade"]].merge(engagement[wanted], on=["query", "product_uid"], how="left")
    frame[["impressions", sig]] = frame[["impressions", sig]].fillna(0).astype(np.int64)
    n = frame["impressions"].to_numpy()
    x = frame[sig].to_numpy()
    g = frame["grade"].to_numpy(dtype=np.int64)
    if exposure_col:
        frame[exposure_col] = frame[exposure_col].fillna(0.0).astype(np.float64)
        e = frame[exposure_col].to_numpy()
        baselines = {}
        for grade in Grade:
            rows = g == int(grade)
            total = e[rows].sum()
            baselines[int(grade)] = float(x[rows].sum() / total) if total > 0 else float("nan")
        rate = np.where(e > 0, x / np.where(e > 0, e, 1.0), np.nan)
        tested = (n >= config.min_impressions) & (e > 0)
    else:
        e = n.astype(np.float64)
        baselines = grade_baselines(frame, sig)
        rate = np.where(n > 0, x / np.maximum(n, 1), np.nan)
        tested = n >= config.min_impressions
    base = np.array([baselines[int(k)] for k in g])
    factor = query_factors(frame, base, sig) if config.baseline == "query" else np.ones(len(frame))
    base = base * factor
    tests = []  # (row, direction, p)
    for i in np.flatnonzero(tested & ~np.isnan(base)):
        if exposure_col:
            mu = e[i] * base[i]
            over, under = float(poisson.sf(x[i] - 1, mu)), float(poisson.cdf(x[i], mu))
        else:
            over, under = float(binom.sf(x[i] - 1, n[i], base[i])), float(binom.cdf(x[i], n[i], base[i]))
        if g[i] < 2:
            tests.append((i, "over", over))
        if g[i] > 0:
            tests.append((i, "under", under))
    q = benjamini_hochberg([t[2] for t in tests])
    p_value = np.full(len(frame), np.nan)
    q_value = np.full(len(frame), np.nan)
    direction = np.full(len(frame), "", dtype=object)
    flagged = np.zeros(len(frame), dtype=bool)
    for (i, d, p), qv in zip(tests, q, strict=True):
        neighbour = baselines.get(int(g[i]) + (1 if d == "over" else -1), float("nan")) * factor[i]
        far_enough = True
        if config.require_midpoint and not np.isnan(neighbour):
            mid = (base[i] + neighbour) / 2
            far_enough = rate[i] > mid if d == "over" else rate[i] < mid
        qualifies = bool(qv <= config.alpha and far_enough)
        # one verdict per pair (partial pairs get two tests): a qualifying test beats a
        # non-qualifying one, then the smaller q-value wins
        if (qualifies and not flagged[i]) or (qualifies == flagged[i] and (np.isnan(q_value[i]) or qv < q_value[i])):
            p_value[i], q_value[i] = p, qv
            direction[i], flagged[i] = (d if qualifies else ""), qualifies
    low = np.full(len(frame), np.nan)
    high = np.full(len(frame), np.nan)
    wilson = tested & (n > 0) & (x <= n)
    if wilson.any():
        low[wilson], high[wilson] = wilson_interval(x[wilson], n[wilson])
    frame["rate"] = rate
    frame["tested"] = tested
    frame["evidence"] = np.where(tested, "tested", np.where(n > 0, "not enough evidence", "no engagement"))
    frame["direction"] = direction
    frame["p_value"] = p_value
    frame["q_value"] = q_value
    frame["confidence"] = np.where(flagged, 1.0 - q_value, np.nan)
    frame["wilson_low"] = low
    frame["wilson_high"] = high
    frame["flagged"] = flagged
    frame.attrs["baselines"] = baselines
    return frame


def judge_probabilities(judges: Sequence, pairs: list[tuple[str, str]], augmentations: Sequence[str],
                        batch_size: int = 128, progress: bool = False) -> np.ndarray:
    """Mean calibrated probabilities over judges x augmentations (an ensemble)."""
    if not pairs:
        return np.zeros((0, 3))
    return np.mean([j.predict_proba(pairs, batch_size, progress, augmentations=tuple(augmentations))
                    for j in judges], axis=0)


def decide(grades: np.ndarray, directions: np.ndarray, probs: np.ndarray, min_confidence: float = 0.0) -> np.ndarray:
    """New grades for flagged pairs: the judge's argmax when it moves in the engagement direction
    with probability >= ``min_confidence``, else the old grade."""
    best = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    moves = np.where(directions == "over", best > grades, best < grades) & (conf >= min_confidence)
    return np.where(moves, best, grades)


def audit_labels(labels: pd.DataFrame, engagement: pd.DataFrame, judges: Sequence, catalog: Catalog,
                 config: AuditConfig | None = None, progress: bool = False,
                 log: Callable[[str], None] = print) -> tuple[pd.DataFrame, dict]:
    """Flag, judge and correct. Returns ``(corrected frame, report)``; the frame has ``grade``
    (corrected), ``original_grade``, ``flagged``, ``direction``, ``changed``, the statistics and, for
    flagged pairs, the judge's ``judge_p_irrelevant/partial/exact``."""
    config = config or AuditConfig()
    frame = flag_pairs(labels, engagement, config)
    baselines = frame.attrs["baselines"]
    flagged_idx = np.flatnonzero(frame["flagged"].to_numpy())
    drop = config.on_flag == "drop"
    if not drop and not judges:
        raise ValueError("on_flag 'rejudge' needs at least one judge (a labeler); use on_flag 'drop' without one")
    log(f"audit: {int(frame['tested'].sum())} of {len(frame)} labeled pairs have >= {config.min_impressions} "
        f"impressions; {len(flagged_idx)} flagged; " + ("dropping them" if drop else "judging them"))
    pairs = [] if drop else [(frame.at[i, "query"], catalog.text(frame.at[i, "product_uid"])) for i in flagged_idx]
    probs = judge_probabilities(judges, pairs, config.augmentations, progress=progress) if pairs else np.zeros((0, 3))
    original = frame["grade"].to_numpy(dtype=np.int64)
    new = original.copy()
    if len(flagged_idx) and not drop:
        new[flagged_idx] = decide(original[flagged_idx], frame["direction"].to_numpy()[flagged_idx], probs,
                                  config.min_judge_confidence)
    for k, name in enumerate(["judge_p_irrelevant", "judge_p_partial", "judge_p_exact"]):
        column = np.full(len(frame), np.nan)
        if len(pairs):
            column[flagged_idx] = probs[:, k]
        frame[name] = column
    frame["original_grade"] = original
    frame["grade"] = new
    frame["changed"] = new != original
    frame["dropped"] = frame["flagged"].to_numpy() if drop else np.zeros(len(frame), dtype=bool)
    by_grade = {}
    for g in Grade:
        rows = frame[frame["original_grade"] == int(g)]
        by_grade[g.label] = {"pairs": len(rows), "tested": int(rows["tested"].sum()),
                             "flagged": int(rows["flagged"].sum()), "changed": int(rows["changed"].sum()),
                             "dropped": int(rows["dropped"].sum()),
                             f"baseline_{config.signal}_rate": baselines[int(g)]}
    transitions = np.zeros((3, 3), dtype=np.int64)
    np.add.at(transitions, (original, new), 1)
    report = {
        "pairs": len(frame),
        "with_engagement": int((frame["impressions"] > 0).sum()),
        "log_pairs_without_label": int(len(engagement) - len(engagement.merge(
            labels[["query", "product_uid"]].drop_duplicates(), on=["query", "product_uid"]))),
        "tested": int(frame["tested"].sum()),
        "not_enough_evidence": int((frame["evidence"] == "not enough evidence").sum()),
        "no_engagement": int((frame["evidence"] == "no engagement").sum()),
        "flagged": len(flagged_idx),
        "dropped": int(frame["dropped"].sum()),
        "flagged_over": int((frame["direction"] == "over").sum()),
        "flagged_under": int((frame["direction"] == "under").sum()),
        "changed": int(frame["changed"].sum()),
        "by_grade": by_grade,
        "transitions": transitions.tolist(),
        "judges": len(judges),
        "config": config.model_dump(),
    }
    return frame, report


def recovery_report(corrected: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """How an audit did against known true grades (``truth``: ``query, product_uid, grade``). Dropped pairs
    (``on_flag="drop"``) leave the labels: an error dropped counts as fixed, a correct pair dropped as lost
    (``correct_pairs_dropped``), and the error rate after is over the pairs kept."""
    joined = corrected.merge(truth[["query", "product_uid", "grade"]].rename(columns={"grade": "true_grade"}),
                             on=["query", "product_uid"], how="inner")
    dropped = joined["dropped"] if "dropped" in joined else pd.Series(False, index=joined.index)
    before = joined["original_grade"] != joined["true_grade"]
    after = (joined["grade"] != joined["true_grade"]) & ~dropped
    flagged = joined["flagged"]
    kept = int((~dropped).sum())
    return {
        "pairs": len(joined),
        "pairs_kept": kept,
        "correct_pairs_dropped": int((~before & dropped).sum()),
        "errors_before": int(before.sum()),
        "errors_after": int(after.sum()),
        "error_rate_before": float(before.mean()),
        "error_rate_after": float(after.sum() / kept) if kept else 0.0,
        "relative_error_reduction": float(1 - after.sum() / before.sum()) if before.sum() else 0.0,
        "errors_flagged": int((before & flagged).sum()),
        "flag_precision": float(before[flagged].mean()) if flagged.any() else 0.0,
        "flag_recall": float(flagged[before].mean()) if before.any() else 0.0,
        "errors_fixed": int((before & ~after).sum()),
        "errors_introduced": int((~before & after).sum()),
        "errors_moved_closer": int((before & after & ((joined["grade"] - joined["true_grade"]).abs()
                                                       < (joined["original_grade"] - joined["true_grade"]).abs())).sum()),
    }
