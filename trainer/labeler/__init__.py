"""The relevance labeler and the engagement-driven label audit.

- :mod:`~trainer.labeler.prompt`: the grade guideline written into every input.
- :mod:`~trainer.labeler.backbones`: cross-encoder on the base model, SmolLM2 (GGUF), any HF model.
- :mod:`~trainer.labeler.train`: fine-tuning with an ordinal-aware loss, held-out query evaluation.
- :mod:`~trainer.labeler.calibration`: temperature scaling and ECE.
- :mod:`~trainer.labeler.features`: hand-made pair features (base cosine, BM25, overlaps, product prior).
- :mod:`~trainer.labeler.stacking`: trees on the features + a logistic combiner with the model's logits.
- :mod:`~trainer.labeler.metrics`: accuracy, within-1, macro-F1, confusion matrix.
- :mod:`~trainer.labeler.model`: the :class:`Labeler` (save/load/predict).
- :mod:`~trainer.labeler.apply`: batch, resumable labeling of (query, product) pairs.
- :mod:`~trainer.labeler.engagement`: engagement logs and the position-based click simulator.
- :mod:`~trainer.labeler.audit`: binomial tests, BH, Wilson intervals, the judge, corrections.

The package itself imports nothing, so reading a labeler config (:mod:`~trainer.labeler.config`)
loads no model code.
"""
