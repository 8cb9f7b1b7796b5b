"""Test support: tiny random models and a generated data set (no downloads): a small BERT with a
WordPiece tokenizer trained on the given texts, saved as a sentence-transformers directory (mean
pooling + normalize); a tiny causal LM; a mixed-language Home Depot-format data set.

Tests only, not part of the installed packages: ``tests/conftest.py`` puts ``tests/`` on ``sys.path``
(pytest's default import mode), so tests import it as ``from tiny_models import ...``."""

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


SYNTHETIC_VOCAB = {
    "en": ["drill", "cordless", "hammer", "faucet", "kitchen", "lamp", "bulb", "paint", "white", "deck",
           "stain", "pipe", "valve", "tile", "saw", "blade", "ladder", "mower", "hose", "shelf"],
    "es": ["taladro", "inalámbrico", "martillo", "grifo", "cocina", "lámpara", "bombilla", "pintura",
           "blanca", "tubería", "válvula", "azulejo", "sierra", "escalera", "manguera"],
    "ja": ["電動ドリル", "ハンマー", "蛇口", "キッチン", "ランプ", "電球", "塗料", "白", "パイプ", "タイル"],
}


def write_synthetic_dataset(directory: Path | str, n_products: int = 120, n_queries: int = 40, per_query: int = 6,
                            seed: int = 0) -> Path:
    """Write ``products.csv`` and ``judgments.csv`` (Home Depot format: raw relevance 1..3) where a
    product's grade follows how many query words its title shares. Mixed English/Spanish/Japanese."""
    import csv
    import random

    rng = random.Random(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    langs = list(SYNTHETIC_VOCAB)
    products = []
    for i in range(n_products):
        words = SYNTHETIC_VOCAB[langs[i % len(langs)]]
        products.append((str(100000 + i), " ".join(rng.sample(words, 3)) + f" model {i}"))
    with open(directory / "products.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["product_uid", "product_title"])
        writer.writerows(products)
    with open(directory / "judgments.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["query", "product_uid", "relevance"])
        for q in range(n_queries):
            anchor = products[rng.randrange(n_products)]
            query_words = anchor[1].split()[:2]
            query = " ".join(query_words) + ("" if q < n_products else f" {q}")
            chosen = {anchor[0]: anchor[1]}
            while len(chosen) < per_query:
                pid, title = products[rng.randrange(n_products)]
                chosen[pid] = title
            for pid, title in chosen.items():
                overlap = len(set(query_words) & set(title.split()))
                relevance = {0: rng.choice([1.0, 1.33, 1.67]), 1: rng.choice([2.0, 2.33]), 2: 3.0}[min(overlap, 2)]
                writer.writerow([query, pid, relevance])
    return directory


def build_tiny_causal_lm(path: Path | str, texts: Iterable[str], hidden_size: int = 32, seed: int = 0) -> Path:
    """A tiny random Llama-style causal LM with a WordPiece tokenizer trained on ``texts``."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    wordpiece = BertWordPieceTokenizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True)
    wordpiece.train_from_iterator([*list(texts), "Product: Search query:"], vocab_size=2000, min_frequency=1,
                                  show_progress=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=wordpiece._tokenizer, eos_token="[SEP]", pad_token="[PAD]",
                                        unk_token="[UNK]", bos_token="[CLS]")
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=256, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def synthetic_data_and_base(root: Path | str, n_products: int, n_queries: int) -> tuple[Path, Path]:
    """``(data dir, tiny base model dir)`` under ``root``: :func:`write_synthetic_dataset` plus a tiny
    sentence encoder whose tokenizer is trained on the generated product titles."""
    import csv

    root = Path(root)
    data = write_synthetic_dataset(root / "data", n_products=n_products, n_queries=n_queries)
    with open(data / "products.csv", encoding="utf-8") as fh:
        titles = [row[1] for row in csv.reader(fh)]
    return data, build_tiny_sentence_transformer(root / "base", titles)
