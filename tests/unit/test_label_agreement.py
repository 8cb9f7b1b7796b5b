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
