"""Every phase of a serving command that takes more than a few seconds shows progress (issue #30, item 14):
the deploy's bar starts after the encoder's warm-up, and evaluation shows its load phases."""

from __future__ import annotations

import time

from mr_opensearch.deploy.deploy import _WarmBar
from mr_opensearch.search.live_eval import load


def test_the_deploy_bar_starts_its_clock_at_the_first_answered_bulk_request(capsys):
    bar = _WarmBar(1000, "indexing shop-abc")
    assert "indexing shop-abc: warming up" in capsys.readouterr().err
    assert bar.bar is None  # no rate, no ETA during the warm-up
    time.sleep(0.3)  # a slow warm-up: it must not count in the rate
    bar.update(256)
    started = bar.bar.start_t
    assert bar.bar.n == 256 and bar.bar.initial == 256
    assert time.time() - started < 0.2  # the clock started at the first acknowledgement, not at creation
    bar.update(10)
    assert bar.bar.n == 266
    bar.close()


def test_a_load_pass_shows_a_bar_per_query(capsys):
    outcome = load(lambda q: time.sleep(0.001), [f"q{i}" for i in range(20)], 2, progress=True, desc="eval dense: load")
    assert outcome["requests"] == 20 and outcome["errors"] == 0
    err = capsys.readouterr().err
    assert "eval dense: load" in err and "20/20" in err


def test_a_timed_load_shows_its_seconds(capsys):
    outcome = load(lambda q: time.sleep(0.01), ["a", "b"], 2, seconds=2.0, progress=True, desc="eval hybrid: load")
    assert outcome["requests"] > 10
    err = capsys.readouterr().err
    assert "eval hybrid: load" in err and "2/2" in err
