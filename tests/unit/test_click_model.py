"""The position-based click simulator against hand-computed cases."""

from __future__ import annotations

import pandas as pd
import pytest

from trainer.labeler.engagement import ClickModelConfig, inject_label_noise, simulate_engagement


def _labels(grades, query="q"):
    return pd.DataFrame({"query": query, "product_uid": [str(i) for i in range(len(grades))], "grade": grades})


def test_deterministic_extremes_give_exact_counts():
    # eta = 0: every shown product is examined; only exact products are clicked, and every click
    # becomes an add-to-cart and an order. 50 sessions, 3 products, all shown every session.
    cfg = ClickModelConfig(sessions_mean=50, sessions_sigma=0, eta=0, click_prob=[0, 0, 1],
                           add_to_cart_prob=[1, 1, 1], order_prob=[1, 1, 1])
    log = simulate_engagement(_labels([0, 1, 2]), cfg)
    assert log["impressions"].tolist() == [50, 50, 50]
    assert log["clicks"].tolist() == [0, 0, 50]
    assert log["add_to_carts"].tolist() == [0, 0, 50]
    assert log["orders"].tolist() == [0, 0, 50]


def test_page_size_limits_impressions_to_the_top_ranks():
    # A ranker this strong always puts the exact product first; a page of 1 shows only it.
    cfg = ClickModelConfig(sessions_mean=40, sessions_sigma=0, page_size=1, ranker_strength=100.0)
    log = simulate_engagement(_labels([0, 2]), cfg)
    assert log["impressions"].tolist() == [0, 40]


def test_click_through_follows_position_bias_times_attractiveness():
    # Exact always at rank 1, partial always at rank 2 (strong ranker). With eta = 1:
    #   CTR(exact)   = 1/1 * 0.45 = 0.45
    #   CTR(partial) = 1/2 * 0.20 = 0.10
    # 20,000 sessions: the standard error is below 0.004, so +-0.015 is > 3.5 sigma.
    cfg = ClickModelConfig(sessions_mean=20000, sessions_sigma=0, eta=1.0, ranker_strength=100.0,
                           click_prob=[0.04, 0.20, 0.45], seed=3)
    log = simulate_engagement(_labels([1, 2]), cfg).set_index("product_uid")
    ctr = log["clicks"] / log["impressions"]
    assert ctr["1"] == pytest.approx(0.45, abs=0.015)
    assert ctr["0"] == pytest.approx(0.10, abs=0.015)
    # add-to-cart per click for exact: 0.25; orders per add-to-cart: 0.6
    assert log.at["1", "add_to_carts"] / log.at["1", "clicks"] == pytest.approx(0.25, abs=0.03)
    assert log.at["1", "orders"] / log.at["1", "add_to_carts"] == pytest.approx(0.60, abs=0.05)


def test_seeded_and_traffic_varies_across_queries():
    labels = pd.concat([_labels([0, 1, 2], query=f"q{i}") for i in range(30)], ignore_index=True)
    a = simulate_engagement(labels, ClickModelConfig(seed=7))
    b = simulate_engagement(labels, ClickModelConfig(seed=7))
    c = simulate_engagement(labels, ClickModelConfig(seed=8))
    pd.testing.assert_frame_equal(a, b)
    assert not a["clicks"].equals(c["clicks"])
    per_query = a.groupby("query")["impressions"].max()
    assert per_query.nunique() > 10  # log-normal traffic
    assert (a["clicks"] <= a["impressions"]).all() and (a["orders"] <= a["add_to_carts"]).all()


def test_inject_label_noise_changes_exactly_the_requested_share():
    labels = _labels([0, 1, 2] * 100)
    noisy = inject_label_noise(labels, 0.1, seed=1)
    assert int(noisy["noisy"].sum()) == 30
    changed = noisy[noisy["noisy"]]
    assert (changed["grade"] != changed["true_grade"]).all()
    assert set(noisy["grade"]) <= {0, 1, 2}
    assert (noisy.loc[~noisy["noisy"], "grade"] == noisy.loc[~noisy["noisy"], "true_grade"]).all()
