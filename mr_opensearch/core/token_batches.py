"""Texts tokenized once and cut into batches of about one token length (minimal padding).

An encoder runs a batch as one ``[batch, longest]`` tensor, so every text pays for the longest in its
batch. Sorting texts by character length (what sentence-transformers does) leaves much padding on
product titles, whose token counts vary with digits and units: on 1,024 Home Depot titles in batches of
64, 30.8 padded tokens per title against 21.8 when sorted by token count (20.1 real). So the texts are
tokenized once (the Rust tokenizer, in parallel), ordered by token count, and each batch is padded here
to its own longest text, straight into the int64 arrays the runtime reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class TokenBatch:
    """One padded batch: ``positions`` are the indices of its texts in the caller's list."""

    positions: np.ndarray
    input_ids: np.ndarray
    attention_mask: np.ndarray

    @property
    def token_type_ids(self) -> np.ndarray:
        return np.zeros_like(self.input_ids)

    def feeds(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        """The runtime's inputs by name (``input_ids``, ``attention_mask``, ``token_type_ids``)."""
        by_name = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if "token_type_ids" in names:
            by_name["token_type_ids"] = self.token_type_ids
        return {name: by_name[name] for name in names}


def token_batches(tokenizer: Any, texts: Sequence[str], batch_size: int, pad_to_multiple: int = 1) -> Iterator[TokenBatch]:
    """Batches of ``texts`` (longest first, at most ``batch_size`` each) tokenized by ``tokenizer`` (a
    ``tokenizers.Tokenizer`` without padding; truncation as it is set), each padded to its longest text
    rounded up to a multiple of ``pad_to_multiple`` (masked tokens, as ``pad_to_multiple_of`` in
    Hugging Face tokenizers)."""
    multiple = max(1, int(pad_to_multiple))
    if not texts:
        return
    encodings = tokenizer.encode_batch(list(texts))
    ids = [e.ids for e in encodings]
    lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
    order = np.argsort(-lengths, kind="stable")
    for start in range(0, len(order), max(1, batch_size)):
        positions = order[start : start + batch_size]
        width = -(-int(lengths[positions[0]]) // multiple) * multiple
        input_ids = np.zeros((len(positions), width), dtype=np.int64)
        mask = np.zeros((len(positions), width), dtype=np.int64)
        for row, position in enumerate(positions):
            n = int(lengths[position])
            input_ids[row, :n] = ids[position]
            mask[row, :n] = 1
        yield TokenBatch(positions, input_ids, mask)
