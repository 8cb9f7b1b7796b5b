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

Saved as ``LABELER/stack.pkl`` (a pickle of the two scikit-learn models: load only labelers you
trust, as with any pickled model) beside ``LABELER/features.json``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

STACK_FILE = "stack.pkl"


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
        path.write_bytes(pickle.dumps({"trees": self.trees, "combiner": self.combiner}))
        return path

    @classmethod
    def load(cls, directory: Path | str) -> StackingHead:
        state = pickle.loads((Path(directory) / STACK_FILE).read_bytes())
        return cls(state["trees"], state["combiner"])
