"""The labeler's stack is saved without pickle (skops) and a legacy pickle is refused unless trusted."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from mr_opensearch.core.errors import MrosError
from trainer.labeler.stacking import LEGACY_PICKLE_FILE, STACK_FILE, TRUSTED_TYPES, StackingHead


@pytest.fixture(scope="module")
def fitted_stack():
    rng = np.random.default_rng(7)
    features = rng.normal(size=(240, 5))
    grades = (features[:, 0] > -0.4).astype(int) + (features[:, 1] > 0.4).astype(int)  # all three grades
    trees = StackingHead.fit_trees(features, grades, seed=0, max_iter=25)
    logits = rng.normal(size=(240, 3)) + np.eye(3)[grades]
    head = StackingHead.fit(trees, logits, features, grades)
    probe_logits, probe_features = rng.normal(size=(50, 3)), rng.normal(size=(50, 5))
    return head, probe_logits, probe_features


def test_round_trip_gives_identical_probabilities(fitted_stack, tmp_path):
    head, logits, features = fitted_stack
    path = head.save(tmp_path)
    assert path.name == STACK_FILE == "stack.skops"
    assert path.read_bytes()[:2] == b"PK"  # a zip of JSON + arrays, not a pickle stream (b"\x80")
    loaded = StackingHead.load(tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(logits, features), head.predict_proba(logits, features))
    assert loaded.trees.n_iter_ == head.trees.n_iter_


def test_trusted_types_are_exactly_what_a_stack_needs(fitted_stack, tmp_path):
    import skops.io

    head, _, _ = fitted_stack
    assert sorted(skops.io.get_untrusted_types(file=head.save(tmp_path))) == sorted(TRUSTED_TYPES)


def test_a_file_with_other_types_is_refused(tmp_path):
    import skops.io
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit([[0.0], [1.0]], [0, 1])
    skops.io.dump({"trees": forest, "combiner": forest, "x": np.float64}, tmp_path / STACK_FILE)
    untrusted = set(skops.io.get_untrusted_types(file=tmp_path / STACK_FILE)) - set(TRUSTED_TYPES)
    assert untrusted  # the probe really holds a type outside the list
    with pytest.raises(MrosError, match="holds types a labeler's stack is not made of") as err:
        StackingHead.load(tmp_path)
    assert all(name in err.value.message for name in untrusted)


def test_legacy_pickle_is_refused_without_the_flag(fitted_stack, tmp_path):
    head, logits, features = fitted_stack
    (tmp_path / LEGACY_PICKLE_FILE).write_bytes(pickle.dumps({"trees": head.trees, "combiner": head.combiner}))
    with pytest.raises(MrosError, match="is a pickle") as err:
        StackingHead.load(tmp_path)
    assert "--trust-pickle" in err.value.hint and "allow_pickle=True" in err.value.hint
    loaded = StackingHead.load(tmp_path, allow_pickle=True)
    np.testing.assert_array_equal(loaded.predict_proba(logits, features), head.predict_proba(logits, features))


def test_missing_stack_is_a_clear_error(tmp_path):
    with pytest.raises(MrosError, match=r"no stack\.skops"):
        StackingHead.load(tmp_path)


def test_labeler_directory_with_a_pickled_stack_is_refused_before_the_model_loads(fitted_stack, tmp_path):
    import json

    from trainer.labeler.model import LABELER_FILE, Labeler

    head, _, _ = fitted_stack
    (tmp_path / LABELER_FILE).write_text(json.dumps({"stacking": True, "guideline": "short"}))
    (tmp_path / LEGACY_PICKLE_FILE).write_bytes(pickle.dumps({"trees": head.trees, "combiner": head.combiner}))
    # no model/ folder: the refusal must come from the stack check, not from a missing model
    with pytest.raises(MrosError, match=r"stack\.pkl is a pickle"):
        Labeler.load(tmp_path)


def test_cli_refuses_a_pickled_stack_and_names_the_flag(fitted_stack, tmp_path):
    import json

    from typer.testing import CliRunner

    from mr_opensearch.cli import app
    from trainer.labeler.model import LABELER_FILE

    head, _, _ = fitted_stack
    labeler = tmp_path / "labeler"
    labeler.mkdir()
    (labeler / LABELER_FILE).write_text(json.dumps({"stacking": True, "guideline": "short"}))
    (labeler / LEGACY_PICKLE_FILE).write_bytes(pickle.dumps({"trees": head.trees, "combiner": head.combiner}))
    result = CliRunner().invoke(app, ["label", "evaluate", "--labeler", str(labeler), "--labels", str(tmp_path / "l.csv"),
                                      "--catalog", str(tmp_path / "c.csv")])
    assert result.exit_code == 1, result.output
    assert "stack.pkl is a pickle" in result.output and "--trust-pickle" in result.output
    assert "Traceback" not in result.output


def test_convert_stack_needs_the_flag_then_writes_a_skops_file_that_predicts_the_same(fitted_stack, tmp_path):
    from typer.testing import CliRunner

    from mr_opensearch.cli import app

    head, logits, features = fitted_stack
    (tmp_path / LEGACY_PICKLE_FILE).write_bytes(pickle.dumps({"trees": head.trees, "combiner": head.combiner}))
    refused = CliRunner().invoke(app, ["label", "convert-stack", "--labeler", str(tmp_path)])
    assert refused.exit_code == 1 and "--trust-pickle" in refused.output
    assert not (tmp_path / STACK_FILE).exists()
    done = CliRunner().invoke(app, ["label", "convert-stack", "--labeler", str(tmp_path), "--trust-pickle"])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([STACK_FILE, LEGACY_PICKLE_FILE])  # pickle kept
    converted = StackingHead.load(tmp_path)  # no flag needed any more
    np.testing.assert_array_equal(converted.predict_proba(logits, features), head.predict_proba(logits, features))
