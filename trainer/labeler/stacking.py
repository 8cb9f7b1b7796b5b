"""The labeler's stacking head: the fine-tuned cross-encoder's logits combined with pair features.

Two models on top of the cross-encoder, each fitted on data the other parts never scored:

1. a gradient-boosted tree classifier (scikit-learn's ``HistGradientBoostingClassifier``) on the
   :mod:`~trainer.labeler.features` of the *training* pairs, with their grades;
2. a multinomial logistic regression (the *combiner*) on the *validation* pairs, whose inputs are
   the cross-encoder's logits ``z`` (3) and the trees' log-probabilities ``log q`` (3), standardised:

       p(grade | pair) = softmax(W [z ; log q] + b)

The combiner is fitted by maximum likelihood on held-out pairs, so its probabilities are calibrated
the way temperature scaling calibrates the cross-encoder alone (it generalises it: with only ``z``
and ``W = I / T`` it *is* temperature scaling). The test split stays untouched by all three models.

Saved as ``LABELER/stack.skops`` beside ``LABELER/features.json``, in skops' format
(:mod:`skops.io`: a zip of JSON and numpy arrays, nothing executed on load). Loading checks every
type in the file against the types a stack is made of (:data:`TRUSTED_TYPES`, beyond the numpy and
scikit-learn types skops trusts by default) and refuses a file with any other. A labeler saved by an
older mros holds ``stack.pkl`` (a pickle, which can run any code when loaded): it is refused unless
the caller passes ``allow_pickle=True`` (``--trust-pickle`` on the command line).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from mr_opensearch.core.errors import MrosError

STACK_FILE = "stack.skops"
LEGACY_PICKLE_FILE = "stack.pkl"
# the types of a fitted stack that skops does not trust by default (checked with
# ``skops.io.get_untrusted_types`` on a saved stack; see tests/unit/test_stacking_format.py)
TRUSTED_TYPES = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)


def _skops():
    try:
        import skops.io
    except ImportError:
        raise MrosError("the labeler's stack needs skops, which is not installed",
                        "install the training extra: pip install 'mros[train]' (or pip install skops)") from None
    return skops.io


def _three_columns(model, inputs: np.ndarray) -> np.ndarray:
    """``predict_proba`` over all three grades, zeros for a grade the model never saw in training."""
    probs = np.zeros((len(inputs), 3))
    probs[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(inputs)
    return probs


class StackingHead:
    def __init__(self, trees, combiner) -> None:
        self.trees = trees
        self.combiner = combiner

    @staticmethod
    def fit_trees(features: np.ndarray, grades: np.ndarray, seed: int = 0, max_iter: int = 300):
        from sklearn.ensemble import HistGradientBoostingClassifier

        trees = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=0.05, max_leaf_nodes=31,
                                               early_stopping=True, validation_fraction=0.1, random_state=seed)
        return trees.fit(features, grades)

    @staticmethod
    def combiner_inputs(logits: np.ndarray, tree_probs: np.ndarray) -> np.ndarray:
        return np.hstack([np.asarray(logits, dtype=np.float64), np.log(np.clip(tree_probs, 1e-6, 1.0))])

    @classmethod
    def fit(cls, trees, logits: np.ndarray, features: np.ndarray, grades: np.ndarray) -> StackingHead:
        """Fit the combiner on held-out ``(logits, features, grades)`` given fitted ``trees``."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        inputs = cls.combiner_inputs(logits, _three_columns(trees, features))
        combiner = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        combiner.fit(inputs, grades)
        return cls(trees, combiner)

    def predict_proba(self, logits: np.ndarray, features: np.ndarray) -> np.ndarray:
        return _three_columns(self.combiner, self.combiner_inputs(logits, _three_columns(self.trees, features)))

    def save(self, directory: Path | str) -> Path:
        path = Path(directory) / STACK_FILE
        _skops().dump({"trees": self.trees, "combiner": self.combiner}, path)
        return path

    @classmethod
    def load(cls, directory: Path | str, allow_pickle: bool = False) -> StackingHead:
        """Read ``stack.skops``; a legacy ``stack.pkl`` only with ``allow_pickle=True``."""
        directory = Path(directory)
        path = directory / STACK_FILE
        if path.exists():
            return cls._load_skops(path)
        legacy = directory / LEGACY_PICKLE_FILE
        if legacy.exists():
            if not allow_pickle:
                raise MrosError(
                    f"{legacy} is a pickle (written by an older mros); loading it can run any code, so it is "
                    "not loaded without your say-so",
                    "re-train the labeler (`mros label train`), or, if you trust where this directory came from, "
                    "convert it once with `mros label convert-stack --labeler DIR --trust-pickle`, or pass "
                    "--trust-pickle (allow_pickle=True in Python) to load it as it is")
            state = pickle.loads(legacy.read_bytes())
            return cls(state["trees"], state["combiner"])
        raise MrosError(f"{directory} has stacking on but no {STACK_FILE}",
                        "re-train the labeler (`mros label train`), or copy the whole labeler directory")

    @classmethod
    def _load_skops(cls, path: Path) -> StackingHead:
        sio = _skops()
        untrusted = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
        if untrusted:
            raise MrosError(f"{path} holds types a labeler's stack is not made of: {', '.join(untrusted)}",
                            "re-train the labeler with this version of mros (`mros label train`)")
        state = sio.load(path, trusted=list(TRUSTED_TYPES))
        return cls(state["trees"], state["combiner"])


def convert_legacy_stack(directory: Path | str, probes: int = 256) -> Path:
    """Rewrite a trusted labeler's ``stack.pkl`` as ``stack.skops`` (the pickle is kept; the skops file
    is read first from now on). Refuses to write when the converted stack's probabilities on random
    probes differ from the pickled one's in any bit."""
    directory = Path(directory)
    if not (directory / LEGACY_PICKLE_FILE).exists():
        raise MrosError(f"{directory} has no {LEGACY_PICKLE_FILE} to convert",
                        "pass the directory of a labeler saved by an older mros")
    state = pickle.loads((directory / LEGACY_PICKLE_FILE).read_bytes())
    legacy = StackingHead(state["trees"], state["combiner"])
    rng = np.random.default_rng(0)
    logits, features = rng.normal(size=(probes, 3)), rng.normal(size=(probes, int(legacy.trees.n_features_in_)))
    target = directory / STACK_FILE
    tmp = directory / "stack.converting.skops"
    _skops().dump({"trees": legacy.trees, "combiner": legacy.combiner}, tmp)
    converted = StackingHead._load_skops(tmp)
    if not np.array_equal(converted.predict_proba(logits, features), legacy.predict_proba(logits, features)):
        tmp.unlink()
        raise MrosError(f"{directory}: the converted stack does not predict what the pickled one does",
                        "re-train the labeler (`mros label train`)")
    tmp.replace(target)
    return target
