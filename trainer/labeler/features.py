"""Hand-made features of a (query, product text) pair, for the labeler's stacking head.

The cross-encoder reads the pair as text; these features add what it sees poorly or not at all
within a 64-token window and one epoch of training on 2 cores:

===================  ==========================================================================
``cosine``           cosine of the *base* bi-encoder (all-MiniLM-L6-v2 by default) between query
                     and product text
``bm25``             Okapi BM25 of the query over the product text (k1 = 1.2, b = 0.75), with
                     document frequencies from the catalog the labeler was trained with
``overlap``          share of query tokens found in the product text
``idf_overlap``      the same, weighted by IDF (rare words count more)
``prefix_overlap``   share of query tokens whose first 4 letters begin a product token (drill ~ drilling)
``head_match``       1 if the query's last token (in English product queries, usually the head noun:
                     "cordless *drill*") is in the product text
``first_match``      1 if its first token is
``phrase_match``     1 if the whole query appears in the product text
``number_match``     share of the query's tokens with digits (sizes, voltages, model numbers) found
                     in the product text; -1 when the query has none
``trigram_overlap``  share of the query's character trigrams found in the product text
``query_tokens``, ``product_tokens``, ``matched_tokens``, ``query_idf``   lengths and the query's total IDF
``product_prior``    the product's mean human grade over *other* queries' judgments seen in
                     training, shrunk towards the overall mean: ``(sum + 2 m) / (count + 2)``
``product_judged``   how many such judgments there are (0 for a product never judged)
``knn_*``            seven features from the human grades of the most similar *training* pairs of
                     other queries, in the base encoder's space (:mod:`trainer.labeler.neighbours`)
===================  ==========================================================================

Tokens are lower-cased alphanumeric runs (decimals kept: ``1.5``), with a light suffix stemmer for
words longer than 4 letters (``-ies`` -> ``-y``; ``-es`` after s/sh/ch/x/z; ``-s``; ``-ing``; ``-ed``). Products are keyed by their
text, so the features need only what :meth:`~trainer.labeler.model.Labeler.predict_proba` gets.

During training, ``product_prior`` of a training pair leaves that pair's own grade out (otherwise
the feature would contain its label). Validation and test queries never enter the prior.

Example::

    feats = PairFeatures.fit(catalog_texts, train_pairs, train_grades, encoder="sentence-transformers/all-MiniLM-L6-v2")
    X = feats.transform([("cordless drill", "DEWALT 20V MAX Cordless Drill")])   # shape (1, 23)
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mr_opensearch.core.safe_write import write_text
from trainer.labeler.neighbours import (
    NEIGHBOUR_FEATURES,
    NEIGHBOURS_FILE,
    NeighbourMemory,
    no_neighbours,
    pair_vectors,
)

FEATURES_FILE = "features.json"

FEATURE_NAMES = (
    "cosine", "bm25", "overlap", "idf_overlap", "prefix_overlap", "head_match", "first_match", "phrase_match",
    "number_match", "trigram_overlap", "query_tokens", "product_tokens", "matched_tokens", "query_idf",
    "product_prior", "product_judged", *NEIGHBOUR_FEATURES,
)

_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_K1, _B = 1.2, 0.75


def _stem(word: str) -> str:
    if len(word) <= 4 or word[0].isdigit():
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    if word.endswith("ing") and len(word) > 5:
        return word[:-3]
    if word.endswith("ed"):
        return word[:-2]
    return word


def tokens(text: str) -> list[str]:
    """Stemmed lower-case tokens.

    >>> tokens("DEWALT 20V Drills, 1.5 in.")
    ['dewalt', '20v', 'drill', '1.5', 'in']
    """
    return [_stem(w) for w in _TOKEN.findall(text.lower())]


def _trigrams(text: str) -> set[str]:
    text = re.sub(r"\s+", " ", text.lower())
    return {text[i:i + 3] for i in range(len(text) - 2)}


class PairFeatures:
    """Fitted feature extractor: catalog document frequencies, product priors and the encoder name."""

    def __init__(self, doc_freq: dict[str, int], n_docs: int, avg_len: float,
                 prior: dict[str, list[float]], prior_mean: float, encoder: str | None) -> None:
        self.doc_freq = doc_freq
        self.n_docs = n_docs
        self.avg_len = avg_len
        self.prior = prior
        self.prior_mean = prior_mean
        self.encoder = encoder
        self.memory: NeighbourMemory | None = None
        self._model = None
        self._memo: tuple[list[tuple[str, str]], np.ndarray, np.ndarray] | None = None

    # ----------------------------------------------------------------- fitting and persistence
    @classmethod
    def fit(cls, catalog_texts: Sequence[str], train_pairs: Sequence[tuple[str, str]], train_grades: Sequence[int],
            encoder: str | None, batch_size: int = 128) -> PairFeatures:
        """Document frequencies of ``catalog_texts``, product priors and, with an ``encoder``, the
        graded-pair memory of the training pairs (their vectors are kept for the next
        :meth:`transform` of the same pairs, so they are encoded once)."""
        doc_freq: Counter[str] = Counter()
        total = 0
        for text in catalog_texts:
            toks = tokens(text)
            total += len(toks)
            doc_freq.update(set(toks))
        prior: dict[str, list[float]] = {}
        for (_, text), grade in zip(train_pairs, train_grades, strict=True):
            entry = prior.setdefault(text, [0.0, 0])
            entry[0] += float(grade)
            entry[1] += 1
        mean = float(np.mean(train_grades)) if len(train_grades) else 1.0
        feats = cls(dict(doc_freq), len(catalog_texts), total / max(1, len(catalog_texts)), prior, mean, encoder)
        if encoder is not None and len(train_pairs):
            qv, tv = feats.vectors(train_pairs, batch_size)
            feats.memory = NeighbourMemory.fit(train_pairs, train_grades, qv, tv)
        return feats

    def save(self, directory: Path | str) -> Path:
        path = Path(directory) / FEATURES_FILE
        write_text(path, json.dumps({"names": list(FEATURE_NAMES), "n_docs": self.n_docs, "avg_len": self.avg_len,
                                     "prior_mean": self.prior_mean, "encoder": self.encoder,
                                     "doc_freq": self.doc_freq, "prior": self.prior}))
        if self.memory is not None:
            self.memory.save(directory)
        return path

    @classmethod
    def load(cls, directory: Path | str) -> PairFeatures:
        info = json.loads((Path(directory) / FEATURES_FILE).read_text())
        if tuple(info["names"]) != FEATURE_NAMES:
            from mr_opensearch.core.errors import MrosError

            raise MrosError(f"{directory}/{FEATURES_FILE} was written by another mros version (other features)",
                            "retrain the labeler with `mros label train`")
        feats = cls(info["doc_freq"], int(info["n_docs"]), float(info["avg_len"]), info["prior"],
                    float(info["prior_mean"]), info["encoder"])
        if (Path(directory) / NEIGHBOURS_FILE).exists():
            feats.memory = NeighbourMemory.load(directory)
        return feats

    # ----------------------------------------------------------------- features
    def idf(self, token: str) -> float:
        df = self.doc_freq.get(token, 0)
        return math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))

    def vectors(self, pairs: Sequence[tuple[str, str]], batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
        """Unit base-encoder vectors of each pair's query and text, row by row; each distinct query
        and text is encoded once. Needs an encoder."""
        pairs = list(pairs)
        if self._memo is not None and self._memo[0] == pairs:
            return self._memo[1], self._memo[2]
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            from trainer.encoder import resolve_model_path

            self._model = SentenceTransformer(resolve_model_path(self.encoder), device="cpu")
        queries = list(dict.fromkeys(q for q, _ in pairs))
        texts = list(dict.fromkeys(t for _, t in pairs))
        encode = lambda xs: self._model.encode(xs, batch_size=batch_size, normalize_embeddings=True,  # noqa: E731
                                               show_progress_bar=False, convert_to_numpy=True)
        qv, tv = encode(queries), encode(texts)
        qi = {q: i for i, q in enumerate(queries)}
        ti = {t: i for i, t in enumerate(texts)}
        result = qv[[qi[q] for q, _ in pairs]], tv[[ti[t] for _, t in pairs]]
        self._memo = (pairs, *result)
        return result

    def cosines(self, pairs: Sequence[tuple[str, str]], batch_size: int = 128) -> np.ndarray:
        """Base-encoder cosines. Zeros without an encoder."""
        if self.encoder is None:
            return np.zeros(len(pairs))
        qv, tv = self.vectors(pairs, batch_size)
        return np.einsum("ij,ij->i", qv, tv).astype(np.float64)

    def neighbours(self, pairs: Sequence[tuple[str, str]], batch_size: int = 128) -> np.ndarray:
        """The graded-pair memory's features (:mod:`trainer.labeler.neighbours`); without a memory
        (no encoder, no training pairs): similarity 0, the mean training grade, shares 0."""
        if self.memory is None:
            return no_neighbours(len(pairs), self.prior_mean)
        qv, tv = self.vectors(pairs, batch_size)
        return self.memory.features([q for q, _ in pairs], pair_vectors(qv, tv))

    def lexical(self, query: str, text: str) -> list[float]:
        q, t = tokens(query), tokens(text)
        in_text = set(t)
        counts = Counter(t)
        matched = [w for w in q if w in in_text]
        query_idf = sum(self.idf(w) for w in q)
        norm = _K1 * (1 - _B + _B * len(t) / max(self.avg_len, 1e-9))
        bm25 = sum(self.idf(w) * counts[w] * (_K1 + 1) / (counts[w] + norm) for w in set(q))
        numbers = [w for w in q if any(c.isdigit() for c in w)]
        grams = _trigrams(query)
        n = max(1, len(q))
        return [
            bm25,
            len(matched) / n,
            sum(self.idf(w) for w in matched) / query_idf if query_idf > 0 else 0.0,
            sum(1 for w in q if any(x.startswith(w[:4]) for x in in_text)) / n,
            float(bool(q) and q[-1] in in_text),
            float(bool(q) and q[0] in in_text),
            float(query.lower().strip() in text.lower()),
            sum(w in in_text for w in numbers) / len(numbers) if numbers else -1.0,
            len(grams & _trigrams(text)) / max(1, len(grams)),
            float(len(q)), float(len(t)), float(len(matched)), query_idf,
        ]

    def product_prior(self, text: str, leave_out: float | None = None) -> list[float]:
        total, count = self.prior.get(text, (0.0, 0))
        if leave_out is not None and count > 0:
            total, count = total - leave_out, count - 1
        return [(total + 2 * self.prior_mean) / (count + 2), float(count)]

    def transform(self, pairs: Sequence[tuple[str, str]], leave_out: Sequence[int] | None = None,
                  batch_size: int = 128) -> np.ndarray:
        """Feature matrix ``(n, len(FEATURE_NAMES))``. ``leave_out``: the pairs' own grades, for
        training pairs whose grade is inside the product prior."""
        cos = self.cosines(pairs, batch_size)
        near = self.neighbours(pairs, batch_size)
        rows = []
        for i, (query, text) in enumerate(pairs):
            own = None if leave_out is None else float(leave_out[i])
            rows.append([cos[i], *self.lexical(query, text), *self.product_prior(text, own), *near[i]])
        return np.asarray(rows, dtype=np.float64).reshape(len(pairs), len(FEATURE_NAMES))
