"""Training configuration: one pydantic model, read from YAML or TOML, written back resolved.

Every field has a default that works on the shared Home Depot data; a config file only needs the
fields it changes. Unknown fields are an error (typos should not be silently ignored).

Example ``mros.yaml``::

    data:
      dir: ../shared/data/homedepot
    stage1:
      epochs: 1
      partial_weight: 0.5
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, model_validator

from mr_opensearch.core.paths import data_dir
from trainer.grades import GradeMapping
from trainer.strict import StrictModel, load_config_file

DEFAULT_BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class CatalogColumns(BaseModel):
    """Which columns of the catalog file hold what."""

    id: str = "product_uid"
    title: str = "product_title"
    extra_text: list[str] = Field(default_factory=list, description="other text fields appended to the title")
    separator: str = " | "


class JudgmentColumns(BaseModel):
    """Which columns of the judgments file hold what. Exactly one of ``grade`` (names or 0/1/2)
    and ``relevance`` (raw scores, cut by the grade mapping) is read: ``grade`` if present."""

    query: str = "query"
    product_id: str = "product_uid"
    grade: str = "grade"
    relevance: str = "relevance"


class SplitConfig(BaseModel):
    seed: int = 13
    validation: float = Field(0.1, ge=0.0, lt=1.0)
    test: float = Field(0.1, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _fractions(self) -> SplitConfig:
        if self.validation + self.test >= 1.0:
            raise ValueError("validation + test fractions must leave room for a training split")
        return self


class MiningConfig(StrictModel):
    k: int = Field(50, ge=1, description="neighbours retrieved per query")
    max_unjudged: int = Field(5, ge=0, description="unjudged neighbours per query sent to the labeler")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0,
                                  description="drop labeler grades whose probability is below this (uncertain labels are noise)")
    backend: Literal["faiss", "opensearch"] = Field(
        "faiss", description="faiss: in memory here; opensearch: a k-NN index on a live cluster (opensearch_url)")
    opensearch_url: str | None = Field(None, description="cluster for backend opensearch (password: $MROS_OPENSEARCH_PASSWORD)")
    opensearch_user: str | None = Field(None, description="user for backend opensearch (password: $MROS_OPENSEARCH_PASSWORD)")
    opensearch_ca_certs: Path | None = Field(None, description="CA bundle of a cluster with a private CA (backend opensearch)")
    opensearch_verify_certs: bool = Field(True, description="verify the cluster's TLS certificate (backend opensearch)")
    index: str = Field("auto", description="faiss index: flat, hnsw or auto (hnsw above 20k products)")
    hnsw_m: int = 32
    hnsw_ef_search: int = 128


class SyntheticQueryConfig(StrictModel):
    enabled: bool = False
    backbone: str = Field("smollm2", description="smollm2, or a Hugging Face causal LM id / path")
    train_pairs: int = Field(4000, ge=1, description="(title, exact query) pairs used for fine-tuning")
    max_steps: int = Field(300, ge=1)
    batch_size: int = 16
    learning_rate: float = 5e-5
    max_products: int = Field(2000, ge=0, description="under-judged products to write queries for")
    max_judgments: int = Field(0, ge=0, description="a product is under-judged with at most this many judgments")
    max_new_tokens: int = 16
    seed: int = 11


class CircleConfig(StrictModel):
    centers: Literal["auto", "medians"] | tuple[float, float] = Field(
        "auto", description="(partial/irrelevant, exact/partial) band centres. auto: Stage 1's learned "
        "thresholds; medians: half-way between adjacent grades' median Stage 1 validation scores (measured "
        "worse on the shared data, docs/benchmarks.md); or two numbers")
    margins: tuple[float, float] = (0.05, 0.05)
    gamma: float = 32.0
    weight: float = Field(1.0, ge=0.0, description="weight of the circle loss (0: Stage 1 loss only, an ablation)")
    supcon_weight: float = Field(2.0, ge=0.0, description="weight of the Stage 1 loss mixed in (0: circle only); "
                                 "2.0 is the mix that improved every AUC on the shared data (docs/benchmarks.md)")
    supcon_settings: Literal["loss_defaults", "stage1"] = Field(
        "loss_defaults", description="settings of the Stage 1 loss mixed in: loss_defaults (temperature 0.05, "
        "partial_weight 0.5, partial_negative_weight 1.0, not symmetric), or stage1 (the stage1 section's "
        "temperature, partial_weight, partial_negative_weight, symmetric and irrelevant_negative_weight)")

    @model_validator(mode="after")
    def _some_loss(self) -> CircleConfig:
        if self.weight == 0 and self.supcon_weight == 0:
            raise ValueError("weight and supcon_weight are both 0: Stage 2 would have no loss")
        return self


class SpellingConfig(StrictModel):
    enabled: bool = Field(False, description="add spelling-noised query copies (raises recall on the shared data, "
                          "costs grade-separation AUC on its clean test queries; for traffic with typos)")
    fraction: float = Field(0.3, ge=0.0, le=1.0)
    copies: int = Field(1, ge=1)
    edits: int = Field(1, ge=1)
    seed: int = 7


class Stage2Config(StrictModel):
    enabled: bool = Field(True, description="run Stage 2 after Stage 1 (false: Stage 1 only)")
    labeler: Path | None = Field(None, description="labeler directory from `mros label train`; without one, mining "
                                 "keeps only the judged pairs whose Stage 1 score contradicts their grade")
    mining: MiningConfig = Field(default_factory=MiningConfig)
    circle: CircleConfig = Field(default_factory=CircleConfig)
    spelling: SpellingConfig = Field(default_factory=SpellingConfig)
    synthetic: SyntheticQueryConfig = Field(default_factory=SyntheticQueryConfig)
    epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(100, ge=-1, description="at most this many optimizer steps (-1: all epochs); on the shared data "
                           "an epoch is ~300 steps of ~7 s on 2 cores, and 100 steps carry most of the gain")
    queries_per_batch: int = Field(32, ge=2)
    max_products_per_query: int = Field(12, ge=1)
    learning_rate: float = Field(2e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0.0, le=1.0)
    seed: int = 43
    save_steps: int = Field(200, ge=1)


class DataSourceConfig(StrictModel):
    """Where the graded data lives and how to read it (shared by training and the labeler)."""

    dir: Path | None = Field(None, description="folder holding the catalog and judgments files (default: "
                             "$MROS_DATA_DIR, else shared/data/homedepot beside the checkout)")
    catalog: str = "products.csv"
    judgments: str = "judgments.csv"
    catalog_columns: CatalogColumns = Field(default_factory=CatalogColumns)
    judgment_columns: JudgmentColumns = Field(default_factory=JudgmentColumns)
    grade_mapping: GradeMapping = Field(default_factory=GradeMapping)
    on_error: Literal["raise", "skip"] = "raise"
    split: SplitConfig = Field(default_factory=SplitConfig)

    def catalog_path(self) -> Path:
        return data_dir(self.dir) / self.catalog

    def judgments_path(self) -> Path:
        return data_dir(self.dir) / self.judgments


class DataConfig(DataSourceConfig):
    max_train_queries: int | None = Field(None, ge=1, description="use only this many training queries (quick runs)")
    max_queries: int | None = Field(None, ge=10, description="a seeded sample of this many queries, taken before splitting (quick runs)")
    max_catalog_products: int | None = Field(None, ge=10, description="the judged products plus random others up to this many (quick runs)")


class ModelConfig(StrictModel):
    base: str = Field(DEFAULT_BASE_MODEL, description="Hugging Face id or local path of the base encoder")
    max_seq_length: int = Field(64, ge=8, le=8192)


class Stage1Config(StrictModel):
    epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, ge=-1, description="stop after this many optimizer steps (-1: run all epochs)")
    queries_per_batch: int = Field(64, ge=2)  # 32: nDCG@10 0.3511, 64: 0.3577 (docs/benchmarks.md)
    max_products_per_query: int = Field(8, ge=1)
    products_per_group: int | None = Field(
        None, ge=1, description="split each query's products into groups of at most this many, each a batch member "
                                "(the query is trained on once per group per epoch); None: one group per query")
    learning_rate: float = Field(1e-4, gt=0)  # 5e-5 left the loss still falling after one epoch (docs/benchmarks.md)
    warmup_ratio: float = Field(0.1, ge=0.0, le=1.0)
    weight_decay: float = Field(0.01, ge=0.0)
    temperature: float = Field(0.05, gt=0)
    partial_weight: float = Field(0.5, ge=0.0)
    partial_negative_weight: float = Field(0.3, ge=0.0, le=1.0,
                                           description="weight of partial products among an exact anchor's negatives")
    symmetric: bool = Field(True, description="also contrast each product's query against the batch's other queries")
    irrelevant_negative_weight: float = Field(
        1.0, gt=0, description="weight of products judged irrelevant for the anchor's own query among its negatives "
                               "(unjudged in-batch products weigh 1)")
    seed: int = 42
    save_steps: int = Field(200, ge=1)
    save_total_limit: int = Field(2, ge=1)
    logging_steps: int = Field(20, ge=1)


class MnrlBaselineConfig(StrictModel):
    """The standard sentence-transformers recipe: MultipleNegativesRankingLoss on exact pairs."""

    epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, ge=-1)
    batch_size: int = Field(64, ge=2)
    learning_rate: float = Field(5e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0.0, le=1.0)
    seed: int = 42


class EvalConfig(StrictModel):
    splits: list[Literal["train", "validation", "test"]] = Field(default_factory=lambda: ["test"])
    ndcg_k: int = Field(10, ge=1)
    recall_k: int = Field(100, ge=1)
    batch_size: int = Field(128, ge=1)
    baselines: list[Literal["bm25", "base", "mnrl"]] = Field(
        default_factory=lambda: ["bm25", "base"],
        description="baselines evaluated beside the trained model; add mnrl to also train the standard "
                    "sentence-transformers recipe (about 23 minutes more on the shared data, 2 cores)")
    max_queries: int | None = Field(None, ge=1, description="evaluate on at most this many queries per split")


class BoundaryConfig(StrictModel):
    """Grade boundaries learned on the validation split (see trainer/boundaries.py)."""

    enabled: bool = True
    criterion: Literal["accuracy", "balanced_accuracy", "macro_f1"] = "accuracy"
    candidates: int = Field(200, ge=10, le=2000)


class ExportConfig(StrictModel):
    enabled: bool = True
    quantize: bool = True
    package: Literal["int8", "fp32"] = "int8"
    opset: int = Field(17, ge=11, le=19)
    fuse: bool = Field(True, description="fuse attention/LayerNorm/GELU into ONNX Runtime kernels before int8 quantization")
    min_fp32_cosine: float = 0.9999
    min_int8_cosine: float = 0.99
    client_variant: Literal["openvino-int8", "int8", "fp32"] = Field(
        "openvino-int8", description="the variant client mode serves: openvino-int8 (static int8 calibrated on the "
                                     "catalog's titles, for OpenVINO; needs the openvino extra, else the ML "
                                     "Commons variant), int8 or fp32")


class TrainConfig(StrictModel):
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    stage1: Stage1Config = Field(default_factory=Stage1Config)
    mnrl: MnrlBaselineConfig = Field(default_factory=MnrlBaselineConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    boundaries: BoundaryConfig = Field(default_factory=BoundaryConfig)
    stage2: Stage2Config = Field(default_factory=Stage2Config)
    export: ExportConfig = Field(default_factory=ExportConfig)

    def dump_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def load_config(path: Path | str | None) -> TrainConfig:
    """Read a YAML (.yaml/.yml) or TOML (.toml) config; ``None`` gives the defaults."""
    return load_config_file(TrainConfig, path)


# Options added after runs already existed, with the value that reproduces the earlier behaviour.
# Left at that value they are not part of a step's content hash, so a newer mros does not retrain
# (or re-evaluate) a finished run whose inputs did not change.
NEUTRAL_VALUES: dict[tuple[str, ...], object] = {
    ("data", "max_queries"): None,
    ("data", "max_catalog_products"): None,
    ("stage1", "products_per_group"): None,
    ("stage1", "irrelevant_negative_weight"): 1.0,
    ("stage2", "circle", "weight"): 1.0,
    ("stage2", "circle", "supcon_settings"): "loss_defaults",
    ("stage2", "mining", "backend"): "faiss",
    ("stage2", "mining", "opensearch_url"): None,
    ("stage2", "mining", "opensearch_user"): None,
    ("stage2", "mining", "opensearch_ca_certs"): None,
    ("stage2", "mining", "opensearch_verify_certs"): True,
}


def key_data(path: tuple[str, ...], model: BaseModel) -> dict:
    """A config section (at ``path`` in the config) as it enters step hashes: its JSON dump without
    the options that sit at their :data:`NEUTRAL_VALUES`."""
    data = model.model_dump(mode="json")

    def prune(node: dict, here: tuple[str, ...]) -> None:
        for key in list(node):
            at = (*here, key)
            if isinstance(node[key], dict):
                prune(node[key], at)
            elif at in NEUTRAL_VALUES and node[key] == NEUTRAL_VALUES[at]:
                del node[key]

    prune(data, path)
    return data
