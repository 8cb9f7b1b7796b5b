"""Configuration of ``mros run``: the training config, the labeler's, the cluster and the in-engine
evaluation, in one YAML/TOML file, on top of a profile.

Profiles:

* ``full`` (default): the whole shared data; labeler, Stage 1, Stage 2 (mining + labeler grades +
  circle loss mixed with the Stage 1 loss), evaluation against BM25, the base model and the MNRL recipe,
  export, deploy, in-engine evaluation.
* ``quick``: the same steps on a seeded sample (1,200 queries, a 6,000-product catalog) with few
  training steps: a smoke run of the whole job in minutes on 2 CPU cores.

The file's values win over the profile's. Unknown keys are errors.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from mr_opensearch.cluster.connection import ClusterConfig
from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.strict import StrictModel, read_config_file, validate_config
from mr_opensearch.deploy import text_analyzers
from mr_opensearch.search.engine_eval import EngineEvalConfig
from trainer.config import TrainConfig
from trainer.labeler.config import LabelerConfig

Profile = Literal["full", "quick"]

PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "train": {"stage2": {"enabled": True}, "eval": {"baselines": ["bm25", "base", "mnrl"]}},
    },
    "quick": {
        "train": {
            "data": {"max_queries": 1200, "max_catalog_products": 6000},
            "stage1": {"max_steps": 40, "queries_per_batch": 16, "save_steps": 1000},
            "mnrl": {"max_steps": 40, "batch_size": 32},
            "eval": {"baselines": ["bm25", "base", "mnrl"]},
            "stage2": {"enabled": True, "max_steps": 30, "queries_per_batch": 16, "save_steps": 1000,
                       "mining": {"k": 20, "max_unjudged": 3}},
        },
        "labeler": {"data": {"max_train_pairs": 1500, "max_eval_pairs": 600}, "max_steps": 40},
        "engine": {"max_queries": 200},
    },
}


class DeployConfig(StrictModel):
    alias: str = Field("mros-products", description="alias moved to the newest complete index; index names are "
                       "<alias>-<model hash>-<catalog hash>")
    embedding: Literal["auto", "engine", "client"] = Field(
        "auto", description="engine: ML Commons + neural-search embed in the cluster; client: mros embeds")
    keep: int | None = Field(None, ge=1, description="complete indices of the alias to keep (older ones deleted)")
    batch_size: int = Field(256, ge=1)
    hnsw_m: int = Field(16, ge=2, le=512)
    ef_construction: int = Field(128, ge=2, le=4096)
    ef_search: int = Field(400, ge=1, le=10000)  # as mros deploy (DeployOptions.ef_search)
    text_analyzer: str = Field(text_analyzers.DEFAULT, description="built-in analyzer of the BM25 text fields, as `mros deploy "
                               "--text-analyzer` (mr_opensearch/deploy/text_analyzers.py)")

    @field_validator("text_analyzer")
    @classmethod
    def _known_analyzer(cls, value: str) -> str:
        try:
            return text_analyzers.check_text_analyzer(value)
        except MrosError as exc:
            raise ValueError(f"{exc.message}; {exc.hint}") from None


class RunConfig(StrictModel):
    profile: Profile = "full"
    train: TrainConfig = Field(default_factory=TrainConfig)
    use_labeler: bool = Field(True, description="train a labeler and let it grade mined pairs in Stage 2")
    labeler: LabelerConfig = Field(default_factory=LabelerConfig)
    opensearch: ClusterConfig = Field(default_factory=ClusterConfig)
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    engine: EngineEvalConfig = Field(default_factory=EngineEvalConfig)

    def dump_yaml(self) -> str:
        import yaml

        data = self.model_dump(mode="json")
        data["opensearch"]["password"] = "***" if self.opensearch.password else None
        if self.opensearch.url:
            from mr_opensearch.cluster.connection import redact_url

            data["opensearch"]["url"] = redact_url(self.opensearch.url)
        return yaml.safe_dump(data, sort_keys=False)


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_run_config(path: Path | str | None, profile: Profile | None = None) -> RunConfig:
    """The profile (``profile`` argument, else the file's ``profile``, else full) with the file on top."""
    raw: dict = read_config_file(path) if path is not None else {}
    chosen = profile or raw.get("profile") or "full"
    if chosen not in PROFILES:
        raise MrosError(f"unknown profile {chosen!r}", f"use one of {', '.join(PROFILES)}")
    merged = _merge(PROFILES[chosen], raw)
    merged["profile"] = chosen
    return validate_config(RunConfig, merged, path or "mros run defaults")
