"""The twin-panel agreement of benchmarks/label_agreement.py, on a hand-made case."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "label_agreement.py"


def test_twin_agreement_by_hand():
    spec = importlib.util.spec_from_file_location("label_agreement", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    products = pd.DataFrame({"product_uid": ["1", "2", "3", "4", "5"],
                             "product_title": ["Drill", "drill ", "Drill", "Hose", "Hose 50 ft"]})
    judgments = pd.DataFrame({
        "query": ["drill"] * 3 + ["hose"] * 2,
        "product_uid": ["1", "2", "3", "4", "5"],
        "relevance": [3.0, 2.67, 1.33, 2.0, 1.0],  # grades 2, 2, 0 for the three "drill" twins
    })
    result = module.twin_agreement(judgments, products)
    # one twin group (the hoses have different titles): pairs (2,2) agree, (2,0) twice differ by two
    assert result["twin_groups"] == 1 and result["twin_pairs"] == 3 and result["judgments_in_groups"] == 3
    assert result["agreement"] == pytest.approx(1 / 3) and result["within1"] == pytest.approx(1 / 3)
    assert result["accuracy_ceiling"] == pytest.approx(math.sqrt(1 / 3))


def test_panel_auc_by_hand():
    spec = importlib.util.spec_from_file_location("label_agreement", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    products = pd.DataFrame({"product_uid": ["1", "2", "3", "4"], "product_title": ["Drill", "drill ", "Drill", "Hose"]})
    judgments = pd.DataFrame({"query": ["drill"] * 3 + ["hose"], "product_uid": ["1", "2", "3", "4"],
                              "relevance": [3.0, 2.67, 1.33, 2.0]})
    result = module.panel_auc(judgments, products, replicates=20)
    # ordered twin pairs: the exact twins get the other panels' 2.67, 1.33, 3.0, 1.33; the irrelevant one
    # gets 3.0 and 2.67 -> exact over irrelevant wins 1 + 2 ties of 8 comparisons
    assert result["panel_auc"]["auc_exact_vs_irrelevant"] == pytest.approx(0.25)
    assert result["panel_auc"]["auc_exact_vs_partial"] is None and result["panel_auc"]["auc_partial_vs_irrelevant"] is None
    # one group: every replicate draws it, so the interval is the point
    assert result["panel_auc_interval"]["auc_exact_vs_irrelevant"] == pytest.approx([0.25, 0.25])
    assert result["panel_auc_interval"]["auc_partial_vs_irrelevant"] is None
