"""The labeler: a 3-class sequence classifier over ``(guideline + query, product)`` with a fitted
softmax temperature, saved as a directory::

    LABELER/
      labeler.json      backbone, guideline style, max_seq_length, temperature, classes, stacking
      model/            the Hugging Face model and tokenizer (safetensors; GGUF backbones are saved
                        de-quantised, so loading never needs the GGUF again)
      features.json     with stacking: the fitted pair features (:mod:`trainer.labeler.features`)
      stack.skops       with stacking: the trees and the combiner (:mod:`trainer.labeler.stacking`; no pickle)
      neighbours.npz    with stacking: the graded-pair memory (:mod:`trainer.labeler.neighbours`)
      metrics.json      written by training (see :mod:`trainer.labeler.train`)

Example::

    from trainer.labeler.model import Labeler
    labeler = Labeler.load("runs/labeler")
    probs = labeler.predict_proba([("cordless drill", "DEWALT 20V MAX Cordless Drill")])
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.safe_write import write_text
from trainer.labeler.calibration import softmax
from trainer.labeler.features import PairFeatures
from trainer.labeler.prompt import GuidelineStyle, format_pair
from trainer.labeler.stacking import StackingHead

LABELER_FILE = "labeler.json"

Augment = Callable[[str], str]


def _identity(text: str) -> str:
    return text


def _lowercase(text: str) -> str:
    return text.lower()


def _strip_punctuation(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s.]", " ", text)).strip()


AUGMENTATIONS: dict[str, Augment] = {"identity": _identity, "lowercase": _lowercase, "strip_punct": _strip_punctuation}
"""Meaning-preserving rewrites of query and product used for test-time augmentation (TTA)."""


class Labeler:
    def __init__(self, model, tokenizer, guideline: GuidelineStyle, max_seq_length: int,
                 temperature: float = 1.0, meta: dict | None = None, features: PairFeatures | None = None,
                 stack: StackingHead | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.guideline = guideline
        self.max_seq_length = max_seq_length
        self.temperature = temperature
        self.meta = dict(meta or {})
        self.features = features
        self.stack = stack

    # ----------------------------------------------------------------- persistence
    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path / "model")
        self.tokenizer.save_pretrained(path / "model")
        stacked = self.stack is not None and self.features is not None
        if stacked:
            self.features.save(path)
            self.stack.save(path)
        info = {**self.meta, "guideline": self.guideline, "max_seq_length": self.max_seq_length,
                "temperature": self.temperature, "classes": ["irrelevant", "partial", "exact"], "stacking": stacked}
        write_text(path / LABELER_FILE, json.dumps(info, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: Path | str, device: str = "cpu", progress: bool = False,
             allow_pickle: bool = False) -> Labeler:
        """Read a labeler directory. ``allow_pickle`` lets a stack saved by an older mros (``stack.pkl``)
        be unpickled; without it such a directory is refused (:meth:`StackingHead.load`)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from trainer.labeler.backbones import prepare_tokenizer, quiet_transformers

        quiet_transformers(progress)
        path = Path(path)
        if not (path / LABELER_FILE).exists():
            raise MrosError(f"{path} is not a labeler directory (no {LABELER_FILE})",
                            "pass the --out directory of `mros label train`")
        info = json.loads((path / LABELER_FILE).read_text())
        features = stack = None
        if info.get("stacking"):  # first: a refused stack fails before the model is read
            stack, features = StackingHead.load(path, allow_pickle=allow_pickle), PairFeatures.load(path)
        tokenizer = AutoTokenizer.from_pretrained(path / "model")
        model = AutoModelForSequenceClassification.from_pretrained(path / "model").to(device)
        prepare_tokenizer(model, tokenizer)
        model.eval()
        return cls(model, tokenizer, info["guideline"], int(info["max_seq_length"]), float(info["temperature"]), info,
                   features, stack)

    # ----------------------------------------------------------------- inference
    def encode(self, queries: Sequence[str], products: Sequence[str], augment: Augment = _identity):
        firsts, seconds = zip(*(format_pair(augment(q), augment(p), self.guideline)
                                for q, p in zip(queries, products, strict=True)), strict=True)
        kwargs = {"max_length": self.max_seq_length, "padding": True, "return_tensors": "pt"}
        try:  # cut the product, never the guideline or the query ...
            return self.tokenizer(list(firsts), list(seconds), truncation="only_second", **kwargs)
        except Exception:  # ... unless guideline + query alone exceed the window: then drop the guideline
            firsts = [format_pair(augment(q), "", "none")[0] for q in queries]
            try:
                return self.tokenizer(firsts, list(seconds), truncation="only_second", **kwargs)
            except Exception:
                return self.tokenizer(firsts, list(seconds), truncation="longest_first", **kwargs)

    def logits(self, pairs: Sequence[tuple[str, str]], batch_size: int = 128, progress: bool = False,
               augment: Augment = _identity, desc: str = "labeling") -> np.ndarray:
        """Raw (uncalibrated) logits, shape ``(n, 3)``, in input order. Pairs are batched by length
        (longest first) so little compute goes to padding."""
        import torch

        from trainer.console import console_bar

        self.model.eval()
        device = next(self.model.parameters()).device
        order = np.argsort([-(len(q) + len(p)) for q, p in pairs], kind="stable")
        out = np.zeros((len(pairs), self.model.config.num_labels), dtype=np.float32)
        with torch.inference_mode():
            for start in console_bar(iterable=range(0, len(pairs), batch_size), desc=desc, disable=not progress, unit="batch"):
                idx = order[start:start + batch_size]
                batch = self.encode([pairs[i][0] for i in idx], [pairs[i][1] for i in idx], augment).to(device)
                out[idx] = self.model(**batch).logits.float().cpu().numpy()
        return out

    def predict_proba(self, pairs: Sequence[tuple[str, str]], batch_size: int = 128, progress: bool = False,
                      augmentations: Sequence[str] = ("identity",)) -> np.ndarray:
        """Calibrated class probabilities. Without stacking: ``softmax(logits / T)``, averaged over
        the given test-time augmentations (see :data:`AUGMENTATIONS`). With stacking: the combiner's
        probabilities from the logits (averaged over the augmentations) and the pair features."""
        if self.stack is not None and self.features is not None:
            logits = np.mean([self.logits(pairs, batch_size, progress, AUGMENTATIONS[name]) for name in augmentations],
                             axis=0)
            return self.stack.predict_proba(logits, self.features.transform(pairs, batch_size=batch_size))
        probs = [softmax(self.logits(pairs, batch_size, progress, AUGMENTATIONS[name]), self.temperature)
                 for name in augmentations]
        return np.mean(probs, axis=0)
