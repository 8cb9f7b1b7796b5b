"""The audit's statistics (Wilson, BH, binomial tests, midpoint rule) and decisions, by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trainer.data import Catalog
from trainer.labeler.audit import (
    AuditConfig,
    audit_labels,
    benjamini_hochberg,
    decide,
    flag_pairs,
    grade_baselines,
    recovery_report,
    wilson_interval,
)


def test_wilson_interval_known_values():
    low, high = wilson_interval([5, 0], [10, 10])
    # 5/10: centre 0.5, half-width 1.96*sqrt(0.025 + 1.96^2/400)/(1 + 1.96^2/10) = 0.26341
    assert low[0] == pytest.approx(0.23659, abs=1e-4) and high[0] == pytest.approx(0.76341, abs=1e-4)
    # 0/10: lower bound 0, upper 2 * (1.96^2/20) / (1 + 1.96^2/10) = 0.27753
    assert low[1] == pytest.approx(0.0, abs=1e-12) and high[1] == pytest.approx(0.27753, abs=1e-4)


def test_benjamini_hochberg_by_hand():
    # sorted 0.01, 0.03, 0.04, 0.20 -> *4/rank: 0.04, 0.06, 0.0533, 0.20 -> running min from the top
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.20])
    assert q == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])


def _binom_upper_tail(x: int, n: int, p: float) -> float:
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(x, n + 1))


def _binom_lower_tail(x: int, n: int, p: float) -> float:
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(0, x + 1))


def _case():
    """10 irrelevant pairs (9 at 5/100 clicks, one at 50/100), 10 partial at 25/100, 10 exact
    (9 at 50/100, one at 2/100), and one exact pair with only 5 impressions."""
    rows, log = [], []
    for i in range(10):
        rows.append(("q", f"i{i}", 0))
        log.append(("q", f"i{i}", 100, 50 if i == 0 else 5))
        rows.append(("q", f"p{i}", 1))
        log.append(("q", f"p{i}", 100, 25))
        rows.append(("q", f"e{i}", 2))
        log.append(("q", f"e{i}", 100, 2 if i == 0 else 50))
    rows.append(("q", "few", 2))
    log.append(("q", "few", 5, 0))
    labels = pd.DataFrame(rows, columns=["query", "product_uid", "grade"])
    engagement = pd.DataFrame(log, columns=["query", "product_uid", "impressions", "clicks"])
    engagement["add_to_carts"] = 0
    engagement["orders"] = 0
    return labels, engagement


def test_baselines_are_pooled_rates():
    labels, engagement = _case()
    frame = labels.merge(engagement, on=["query", "product_uid"])
    b = grade_baselines(frame, "clicks")
    assert b[0] == pytest.approx((9 * 5 + 50) / 1000)  # 0.095
    assert b[1] == pytest.approx(0.25)
    assert b[2] == pytest.approx((9 * 50 + 2) / 1005)  # the 5-impression pair counts in the pool


def test_flags_the_two_outliers_with_exact_binomial_p_values():
    labels, engagement = _case()
    frame = flag_pairs(labels, engagement, AuditConfig(min_impressions=30, alpha=0.01)).set_index("product_uid")
    assert sorted(frame.index[frame["flagged"]]) == ["e0", "i0"]
    assert frame.at["i0", "direction"] == "over" and frame.at["e0", "direction"] == "under"
    p0, p2 = 0.095, 452 / 1005
    assert frame.at["i0", "p_value"] == pytest.approx(_binom_upper_tail(50, 100, p0), rel=1e-6)
    assert frame.at["e0", "p_value"] == pytest.approx(_binom_lower_tail(2, 100, p2), rel=1e-6)
    assert not frame.at["few", "tested"] and np.isnan(frame.at["few", "p_value"])
    # a normal irrelevant pair: P(X >= 5 | 100, 0.095) is large
    assert frame.at["i1", "p_value"] == pytest.approx(_binom_upper_tail(5, 100, p0), rel=1e-6)
    assert frame.at["i1", "p_value"] > 0.5


def test_midpoint_rule_needs_a_large_deviation():
    # irrelevant baseline pooled over 1000 + 10000 impressions; the big pair (1300/10000 = 0.13) is
    # significantly above it but below the midpoint to the partial baseline (0.25).
    labels = pd.DataFrame({"query": "q", "product_uid": ["a", "b", "c"], "grade": [0, 0, 1]})
    engagement = pd.DataFrame({"query": "q", "product_uid": ["a", "b", "c"], "impressions": [1000, 10000, 1000],
                               "clicks": [50, 1300, 400], "add_to_carts": 0, "orders": 0})
    strict = flag_pairs(labels, engagement, AuditConfig(alpha=0.1)).set_index("product_uid")
    p0 = 1350 / 11000
    mid = (p0 + 0.4) / 2
    assert mid > 0.13 and not strict.at["b", "flagged"]
    loose = flag_pairs(labels, engagement, AuditConfig(alpha=0.1, require_midpoint=False)).set_index("product_uid")
    assert loose.at["b", "flagged"] and loose.at["b", "direction"] == "over"
    # 50/1000 = 0.05 vs 0.1227: under-engaged, but irrelevant is never tested downwards
    assert not loose.at["a", "flagged"]


def test_decide_moves_only_in_the_engagement_direction():
    grades = np.array([0, 2, 1, 0])
    directions = np.array(["over", "under", "over", "over"])
    probs = np.array([[0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.1, 0.45, 0.45]])
    assert decide(grades, directions, probs).tolist() == [1, 2, 1, 1]
    assert decide(grades, directions, probs, min_confidence=0.48).tolist() == [1, 2, 1, 0]


class _FixedJudge:
    """A judge that says 'exact' for products whose text contains 'good', else 'irrelevant'."""

    def predict_proba(self, pairs, batch_size=128, progress=False, augmentations=("identity",)):
        return np.array([[0.1, 0.1, 0.8] if "good" in p else [0.8, 0.1, 0.1] for _, p in pairs])


def test_audit_report_and_recovery():
    labels, engagement = _case()
    catalog = Catalog(list(labels["product_uid"]),
                      ["good product" if pid == "i0" else "some product" for pid in labels["product_uid"]])
    corrected, report = audit_labels(labels, engagement, [_FixedJudge()], catalog, AuditConfig(), log=lambda m: None)
    c = corrected.set_index("product_uid")
    assert c.at["i0", "grade"] == 2 and c.at["i0", "changed"]  # over-engaged, judge says exact
    assert c.at["e0", "grade"] == 0 and c.at["e0", "changed"]  # under-engaged, judge says irrelevant
    assert report["flagged"] == 2 and report["changed"] == 2 and report["tested"] == 30
    assert report["log_pairs_without_label"] == 0
    assert report["by_grade"]["irrelevant"]["flagged"] == 1 and report["by_grade"]["exact"]["changed"] == 1
    assert report["by_grade"]["partial"]["flagged"] == 0
    assert report["transitions"][0][2] == 1 and report["transitions"][2][0] == 1
    truth = labels.copy()
    truth.loc[truth["product_uid"] == "i0", "grade"] = 2  # i0 really was exact; e0 really was exact too
    rec = recovery_report(corrected, truth)
    assert rec["errors_before"] == 1 and rec["errors_after"] == 1  # fixed i0, broke e0
    assert rec["errors_fixed"] == 1 and rec["errors_introduced"] == 1
    assert rec["flag_precision"] == pytest.approx(0.5) and rec["flag_recall"] == pytest.approx(1.0)


def test_query_factor_is_leave_one_out():
    from trainer.labeler.audit import query_factors

    # one query, baselines 0.1 (irrelevant) and 0.4 (exact); 100 impressions each.
    # expected clicks 10 and 40; observed 30 and 20.
    frame = pd.DataFrame({"query": "q", "product_uid": ["a", "b"], "grade": [0, 2], "impressions": [100, 100],
                          "clicks": [30, 20]})
    f = query_factors(frame, np.array([0.1, 0.4]), "clicks")
    # a: rest of the query observed 20 clicks where 40 were expected -> 0.5; b: 30 vs 10 -> 3.0
    assert f.tolist() == pytest.approx([0.5, 3.0])
    lone = pd.DataFrame({"query": "q", "product_uid": ["a"], "grade": [0], "impressions": [100], "clicks": [30]})
    assert query_factors(lone, np.array([0.1]), "clicks").tolist() == [1.0]
