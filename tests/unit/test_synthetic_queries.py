from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tiny_models import build_tiny_causal_lm

from mr_opensearch.core.errors import MrosError
from trainer.augment.synthetic import (
    SyntheticQueryConfig,
    fine_tune,
    generate_queries,
    load_generator,
    synthesize,
    under_judged_products,
)
from trainer.data import Catalog, Judgments

pytestmark = pytest.mark.slow

TITLES = ["cordless drill kit", "kitchen faucet chrome", "garden hose reel", "taladro inalámbrico", "電動ドリル 18V"]


@pytest.fixture(scope="module")
def data():
    catalog = Catalog([str(i) for i in range(len(TITLES))], TITLES)
    frame = pd.DataFrame([("drill", "0", 2), ("faucet", "1", 2), ("hose", "2", 1)], columns=["query", "product_id", "grade"])
    return catalog, Judgments(frame)


def test_fine_tuning_lowers_the_query_loss_and_generation_runs(tmp_path, data):
    catalog, _judgments = data
    path = build_tiny_causal_lm(tmp_path / "lm", [*TITLES, "drill", "faucet", "hose"])
    model, tokenizer = load_generator(str(path))
    pairs = [(catalog.text("0"), "drill"), (catalog.text("1"), "faucet")]
    losses = fine_tune(model, tokenizer, pairs, SyntheticQueryConfig(max_steps=40, batch_size=2, learning_rate=3e-3))
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    queries = generate_queries(model, tokenizer, [catalog.text("0"), catalog.text("4")], max_new_tokens=4)
    assert len(queries) == 2 and all(isinstance(q, str) for q in queries)
    # after fitting two pairs, the generator reproduces the query of a training title
    assert queries[0] == "drill"


def test_under_judged_products(data):
    catalog, judgments = data
    assert sorted(under_judged_products(judgments, catalog, 0, 10, 0)) == ["3", "4"]
    assert len(under_judged_products(judgments, catalog, 1, 10, 0)) == 5
    assert len(under_judged_products(judgments, catalog, 0, 1, 0)) == 1


def test_synthesize_grades_every_generated_pair(tmp_path, data):
    catalog, judgments = data
    path = build_tiny_causal_lm(tmp_path / "lm", [*TITLES, "drill", "faucet", "hose"])
    seen = []

    def labeler(queries, texts):
        seen.extend(zip(queries, texts, strict=True))
        return np.array([0] * len(queries)), np.tile([1.0, 0.0, 0.0], (len(queries), 1))

    config = SyntheticQueryConfig(backbone=str(path), max_steps=5, batch_size=2, max_products=2, max_new_tokens=3)
    frame, report = synthesize(judgments, catalog, config, labeler, out_dir=tmp_path)
    assert len(seen) == len(frame) == report["queries"] and frame["synthetic"].all()
    assert set(frame["product_id"]) <= {"3", "4"} and (frame["grade"] == 0).all()
    assert (tmp_path / "synthetic_queries.parquet").exists()
    with pytest.raises(MrosError, match="graded by a labeler"):
        synthesize(judgments, catalog, config, None)
