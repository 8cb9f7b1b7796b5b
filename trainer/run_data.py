"""The data a training run reads: the catalog and judgments, sampled for quick runs and split by query.

Loaded once per run (:func:`load_data`) and passed to every step, so a bad row fails before the run
directory is created or changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mr_opensearch.core.errors import MrosError
from trainer.config import TrainConfig
from trainer.data import Catalog, Judgments, load_catalog, load_judgments
from trainer.splits import split_judgments

Log = Callable[[str], None]


@dataclass
class LoadedData:
    catalog: Catalog
    judgments: Judgments
    splits: dict[str, Judgments]
    reports: list[str] = field(default_factory=list)


def load_data(config: TrainConfig) -> LoadedData:
    data = config.data
    catalog = load_catalog(data.catalog_path(), data.catalog_columns, data.on_error)
    judgments = load_judgments(data.judgments_path(), catalog, data.judgment_columns, data.grade_mapping, data.on_error)
    if data.max_queries or data.max_catalog_products:
        from trainer.subset import restrict_catalog, sample_queries

        report = judgments.report
        if data.max_queries:
            judgments = sample_queries(judgments, data.max_queries, data.split.seed)
            judgments.report = report
        if data.max_catalog_products:
            catalog = restrict_catalog(catalog, judgments, data.max_catalog_products, data.split.seed)
    splits = split_judgments(judgments, data.split)
    if data.max_train_queries:
        keep = sorted(splits["train"].queries)[: data.max_train_queries]
        splits["train"] = splits["train"].for_queries(keep)
    if len(splits["train"]) == 0:
        raise MrosError("the training split is empty", "lower the validation/test fractions or add judgments")
    reports = [r.summary() for r in (catalog.report, judgments.report) if r is not None]
    return LoadedData(catalog, judgments, splits, reports)
