"""Graded evaluation: full-corpus retrieval, judged-only re-ranking and grade separation."""

from trainer.evaluation.evaluator import GradedRetrievalEvaluator
from trainer.evaluation.scorers import BM25Scorer, DenseScorer

__all__ = ["BM25Scorer", "DenseScorer", "GradedRetrievalEvaluator"]
