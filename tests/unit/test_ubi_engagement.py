"""UBI 1.3.0 engagement: SRW's COEC by hand, the bad inputs of issue #34 (each an error or a counted skip),
the simulator's documents, and the audit's planted-noise recovery on the real format."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app
from mr_opensearch.core.errors import MrosError
from trainer.labeler.audit import AuditConfig, flag_pairs
from trainer.labeler.engagement import ClickModelConfig, inject_label_noise, simulate_engagement
from trainer.labeler.ubi import aggregate_pairs, java_round, read_ubi, srw_coec
from trainer.labeler.ubi_simulation import event_documents, query_documents, simulate_ubi, write_ubi_ndjson

runner = CliRunner()
_counter = iter(range(10**6))


def ev(action, obj, ordinal, query="drill", qid=None, **extra):
    """One UBI event document (a fresh query_id and timestamp each, so no two are duplicates)."""
    n = next(_counter)
    doc = {"action_name": action, "query_id": qid or f"q{n}", "client_id": "c1",
           "timestamp": f"2026-02-01T10:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
           "event_attributes": {"object": {"object_id": obj}, "position": {"ordinal": ordinal}}}
    if query is not None:
        doc["user_query"] = query
    doc.update(extra)
    return doc


def docs(items):
    return [(f"line {i + 1}", d) for i, d in enumerate(items)]


def coec_events():
    """The small event set of the by-hand check (max_rank 3)."""
    return [
        ev("impression", "A", 0), ev("click", "A", 0), ev("impression", "A", 1), ev("click", "A", 1),
        ev("impression", "B", 1), ev("impression", "B", 0), ev("click", "B", 0),
        ev("impression", "C", 0), ev("impression", "C", 2),
        ev("impression", "D", 3),                       # ordinal == maxRank: counted for the pair, no ctr[3]
        ev("impression", "E", 5), ev("click", "E", 5),  # ordinal > maxRank: not read at all
        ev("add_to_cart", "A", 0),                      # neither click nor impression
        ev("impression", "F", 0, query=None, qid="s1"), ev("click", "F", 0, query=None, qid="s1"),
    ]


def test_coec_equals_srw_formula_by_hand():
    log = read_ubi(docs(coec_events()), docs([{"query_id": "s1", "user_query": "sink"}]), "hand")
    # ctr[r] over every event with ordinal <= 3, with or without user_query:
    # rank 0: impressions A, B, C, F = 4, clicks A, B, F = 3 -> 3/4; rank 1: impressions A, B = 2, clicks A = 1 -> 1/2
    # rank 2: impressions C = 1, clicks 0 -> 0
    from trainer.labeler.ubi import rank_click_through

    assert rank_click_through(log.events, 3).tolist() == [0.75, 0.5, 0.0]
    # rating = C / (ctr[r*] * I), r* the lowest ordinal of the pair's clicks and impressions
    hand = {"drill": {"A": 2 / (0.75 * 2),   # C 2, I 2, r* 0
                      "B": 1 / (0.75 * 2),   # C 1, I 2, r* 0
                      "C": 0.0,              # no clicks
                      "D": 0.0},             # r* 3 = maxRank: ctr 0, rating 0
            "sink": {"F": 1 / (0.75 * 1)}}
    expected = {q: {d: f"{v:.3f}" for d, v in row.items()} for q, row in hand.items()}
    assert srw_coec(log.events, max_rank=3) == expected
    # as SRW does: events without their own user_query are skipped (the ubi_queries join is unused there)
    strict = srw_coec(log.events, max_rank=3, join_queries=False)
    assert strict == {"drill": expected["drill"]}
    # the pairs' exposures: SRW's I * ctr[r*], and the per-impression sum of ctr[r_i]
    pairs = aggregate_pairs(log.events, max_rank=3).set_index(["query", "product_uid"])
    assert pairs.loc[("drill", "A"), "exposure_coec_srw"] == pytest.approx(2 * 0.75)
    assert pairs.loc[("drill", "A"), "exposure_coec"] == pytest.approx(0.75 + 0.5)
    assert pairs.loc[("drill", "C"), "exposure_coec"] == pytest.approx(0.75 + 0.0)
    assert pairs.loc[("drill", "A"), "add_to_carts"] == 1


def test_ratings_are_written_as_java_rounds_them():
    assert java_round(0.0625) == "0.063"       # Java's %.3f: half-up on the exact double
    assert f"{0.0625:.3f}" == "0.062"          # Python's would differ
    assert java_round(1 / 3) == "0.333" and java_round(0.0) == "0.000"


def test_bad_events_are_counted_skips_never_silent():
    items = [
        ev("impression", "p1", 0), ev("click", "p1", 0),
        {k: v for k, v in ev("impression", "p1", 1).items() if k != "timestamp"},
        {k: v for k, v in ev("impression", "p1", 1).items() if k != "action_name"},
        ev("impression", "p1", 1, timestamp="yesterday"),
        ev("impression", "p2", None),
        ev("impression", "p2", -1),
        ev("impression", "p2", 1.5),
        ev("impression", "zz-not-in-catalog", 0),
        ev("impression", "p2", 0, query=None, qid="unknown"),
        ev("view", "p2", 0),
    ]
    items.append(dict(items[0]))  # an exact duplicate
    log = read_ubi(docs(items), None, "bad", catalog_ids={"p1", "p2"})
    skipped = log.report.summary()["skipped"]
    assert skipped == {
        "events without timestamp": 1, "events without action_name": 1,
        "events with a timestamp that is not an ISO 8601 date-time": 1,
        "events without event_attributes.position.ordinal": 1, "events with a negative ordinal": 1,
        "events with an ordinal that is not a whole number": 1,
        "events whose object_id is not a catalog id": 1,
        "events with no query match (no user_query, and no ubi_queries row for their query_id)": 1,
        "duplicate events (identical to an earlier one)": 1}
    assert log.report.summary()["actions_not_used"] == {"view": 1}
    assert log.report.events_read == len(items) and log.report.events_kept == 2
    assert all(log.report.examples[reason] for reason in skipped)  # each reason with where it happened
    assert "skipped 1: events without timestamp" in "\n".join(log.report.lines())


def test_one_based_ordinals_are_refused_or_converted():
    items = [ev("impression", "p1", 1), ev("click", "p1", 1), ev("impression", "p2", 2)]
    with pytest.raises(MrosError, match="1-based"):
        read_ubi(docs(items), None, "one-based")
    log = read_ubi(docs(items), None, "one-based", ordinal_base=1)
    assert sorted(log.events["ordinal"]) == [0, 0, 1]


def test_lucene_doc_numbers_are_refused_naming_the_pitfall():
    items = [ev("impression", str(n), 0) for n in range(5)]
    with pytest.raises(MrosError, match="Lucene doc numbers") as info:
        read_ubi(docs(items), None, "docnumbers", catalog_ids={"SKU-1", "SKU-2"})
    assert "object_id_field" in info.value.hint


def test_no_usable_event_is_an_error():
    with pytest.raises(MrosError, match="no usable UBI events"):
        read_ubi(docs([ev("view", "p1", 0)]), None, "views")


def test_dynamic_mapping_with_text_action_name_is_refused():
    from trainer.labeler.ubi import check_events_mapping

    with pytest.raises(MrosError, match="action_name is mapped as 'text'"):
        check_events_mapping({"ubi_events": {"mappings": {"properties": {"action_name": {"type": "text"}}}}})
    check_events_mapping({"ubi_events": {"mappings": {"properties": {"action_name": {"type": "keyword"}}}}})


def _scenario(n_queries=40, per_query=8, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    rows = [(f"query {q}", f"p{q}-{j}", int(g)) for q in range(n_queries)
            for j, g in enumerate(rng.choice(3, size=per_query, p=[0.3, 0.35, 0.35]))]
    truth = pd.DataFrame(rows, columns=["query", "product_uid", "grade"])
    return truth, inject_label_noise(truth, noise, seed=1)


def test_simulated_ubi_documents_read_back_to_the_same_counts(tmp_path):
    truth, _ = _scenario(n_queries=6, per_query=5)
    click = ClickModelConfig(sessions_mean=30, sessions_sigma=0.0, seed=3)
    events, queries = simulate_ubi(truth, click, user_query_on_events=0.5)
    counts = simulate_engagement(truth, click)  # the same sessions
    events_path, _queries_path = write_ubi_ndjson(tmp_path, events, queries)
    first = json.loads(events_path.read_text().splitlines()[0])
    assert {"action_name", "timestamp", "query_id", "event_attributes"} <= set(first)
    assert first["event_attributes"]["object"]["object_id_field"] == "product_uid"
    assert 0 < sum("user_query" in d for d in event_documents(events)) < len(events)  # half carry it
    assert all(len(d["query_response_hit_ids"]) <= 5 for d in query_documents(queries))
    from trainer.labeler.ubi import load_ubi

    log = load_ubi(tmp_path, set(truth["product_uid"]))
    assert log.report.summary()["skipped_total"] == 0 and log.events["query_matched"].all()
    pairs = aggregate_pairs(log.events).merge(counts, on=["query", "product_uid"], suffixes=("", "_log"))
    assert len(pairs) == len(counts)
    for column in ("impressions", "clicks", "add_to_carts", "orders"):
        assert (pairs[column] == pairs[f"{column}_log"]).all(), column
    assert (log.events["ordinal"] >= 0).all() and log.events["ordinal"].min() == 0


def test_audit_finds_planted_noise_at_default_thresholds():
    """The test scenario (40 queries x 8 products, 300 searches each, 10% noise): SRW's COEC estimator at the
    default thresholds (alpha 0.01, 30 impressions) flags the corrupted labels with precision and recall >= 0.8."""
    truth, noisy = _scenario()
    events, _ = simulate_ubi(truth, ClickModelConfig(sessions_mean=300, sessions_sigma=0.0, seed=2))
    events["query_matched"] = True
    pairs = aggregate_pairs(events)
    for estimator in ("coec_srw", "impressions", "pbm"):
        flagged = flag_pairs(noisy[["query", "product_uid", "grade"]], pairs, AuditConfig(estimator=estimator))
        bad, hit = noisy["noisy"].to_numpy(), flagged["flagged"].to_numpy()
        precision, recall = (bad & hit).sum() / hit.sum(), (bad & hit).sum() / bad.sum()
        if estimator == "coec_srw":
            assert precision >= 0.8 and recall >= 0.8, (precision, recall)
        assert ((flagged["confidence"] > 0.99) == hit).all()  # 1 - q of the flagged pairs (q <= alpha)


def test_min_impressions_leave_pairs_as_not_enough_evidence():
    truth, noisy = _scenario(n_queries=10)
    events, _ = simulate_ubi(truth, ClickModelConfig(sessions_mean=20, sessions_sigma=0.0, seed=2))
    events["query_matched"] = True
    flagged = flag_pairs(noisy[["query", "product_uid", "grade"]], aggregate_pairs(events),
                         AuditConfig(estimator="coec_srw", min_impressions=25))
    thin = flagged["impressions"].between(1, 24)
    assert thin.any() and (flagged.loc[thin, "evidence"] == "not enough evidence").all()
    assert not flagged.loc[thin, "flagged"].any() and flagged.loc[thin, "p_value"].isna().all()


def test_audit_cli_with_ubi_writes_training_ready_labels(tmp_path):
    from trainer.data import load_catalog, load_judgments

    truth, noisy = _scenario(n_queries=20)
    catalog = tmp_path / "products.csv"
    pd.DataFrame({"product_uid": truth["product_uid"], "product_title": "title " + truth["product_uid"]}).to_csv(
        catalog, index=False)
    truth.to_csv(tmp_path / "truth.csv", index=False)
    noisy[["query", "product_uid", "grade"]].to_csv(tmp_path / "noisy.csv", index=False)
    events, queries = simulate_ubi(truth, ClickModelConfig(sessions_mean=300, sessions_sigma=0.0, seed=2),
                                   user_query_on_events=0.0)  # spec-pure: the user query only on ubi_queries
    write_ubi_ndjson(tmp_path / "ubi", events, queries)
    result = runner.invoke(app, ["label", "audit", "--labels", str(tmp_path / "noisy.csv"), "--catalog", str(catalog),
                                 "--ubi", str(tmp_path / "ubi"), "--out", str(tmp_path / "audited.csv"),
                                 "--truth", str(tmp_path / "truth.csv"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["config"]["estimator"] == "coec_srw" and report["config"]["on_flag"] == "drop"
    assert report["ubi"]["skipped_total"] == 0 and report["ubi"]["events_kept"] == len(events)
    assert report["changes"]["kept_pairs"] == report["pairs"] - report["dropped"]
    assert report["recovery"]["flag_precision"] >= 0.8 and report["recovery"]["flag_recall"] >= 0.8
    flagged = pd.read_csv(tmp_path / "audited.flagged.csv")
    assert len(flagged) == report["flagged"] and flagged["confidence"].between(0.99, 1).all()
    judged = load_judgments(tmp_path / "audited.csv", load_catalog(catalog))  # what `mros train` reads
    assert len(judged) == report["pairs"] - report["dropped"]


def test_audit_cli_refuses_two_sources_and_positions_without_ubi(tmp_path):
    args = ["label", "audit", "--labels", "x.csv", "--catalog", "c.csv", "--out", str(tmp_path / "o.csv")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "exactly one engagement source" in result.output
    result = runner.invoke(app, [*args, "--engagement", "log.csv", "--estimator", "pbm"])
    assert result.exit_code == 2 and "needs positions" in result.output
    result = runner.invoke(app, [*args, "--ubi", "d", "--on-flag", "rejudge"])
    assert result.exit_code == 2 and "needs a judge" in result.output
