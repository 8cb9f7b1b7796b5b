"""Tiny random models for tests and examples (no downloads): a small BERT with a WordPiece tokenizer
trained on the given texts, saved as a sentence-transformers directory (mean pooling + normalize)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path


def build_tiny_sentence_transformer(
    path: Path | str,
    texts: Iterable[str],
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 2,
    vocab_size: int = 2000,
    max_seq_length: int = 64,
    seed: int = 0,
) -> Path:
    """Build and save a tiny random BERT sentence encoder at ``path``; returns ``path``.

    The tokenizer is a WordPiece vocabulary trained on ``texts`` (accents and non-Latin scripts are
    kept: nothing here is English-only), wrapped as a fast tokenizer so ``tokenizer.json`` exists.
    """
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="mros-tiny-") as tmp:
        return _build(path, Path(tmp), list(texts), hidden_size, layers, heads, vocab_size, max_seq_length, seed)


def _build(path: Path, raw: Path, texts: list[str], hidden_size: int, layers: int, heads: int,
           vocab_size: int, max_seq_length: int, seed: int) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    wordpiece = BertWordPieceTokenizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True)
    wordpiece.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=1, show_progress=False)
    wordpiece.save_model(str(raw))
    tokenizer = BertTokenizerFast(tokenizer_object=wordpiece._tokenizer, vocab_file=str(raw / "vocab.txt"),
                                  do_lower_case=True, strip_accents=False, model_max_length=max_seq_length)
    tokenizer.save_pretrained(raw)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=max(128, max_seq_length),
    )
    BertModel(config).save_pretrained(raw)
    transformer = models.Transformer(str(raw), max_seq_length=max_seq_length)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu")
    model.save(str(path))
    return path
