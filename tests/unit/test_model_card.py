"""The run's model card: Hugging Face metadata that huggingface_hub parses back, the stage and pooling
read from the run, and the comparison with the MNRL recipe (also in `mros report`)."""

from __future__ import annotations

import json
import sys

import pytest
from huggingface_hub import ModelCard

from mr_opensearch.job.report import build_report
from trainer.config import TrainConfig
from trainer.evaluation.mnrl_comparison import HOW_TO_GET_IT, compare_with_mnrl, comparison_markdown
from trainer.model_card import TAGS, card_metadata, render_metadata, write_model_card

SPLIT_COUNTS = {"train": {"queries": 8, "pairs": 40, "grades": {"exact": 10}}}


def _model_dir(run, pooling_config: dict, normalise: bool = True) -> None:
    model = run / "model"
    (model / "1_Pooling").mkdir(parents=True)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalise:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (model / "modules.json").write_text(json.dumps(modules))
    (model / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config))


def _stage2_metrics() -> dict:
    test = {"stage2": {"ndcg@10": 0.6, "auc_exact_vs_partial": 0.7, "auc_partial_vs_irrelevant": 0.8,
                       "auc_exact_vs_irrelevant": 0.9, "queries": 8},
            "mnrl": {"ndcg@10": 0.5, "auc_exact_vs_partial": 0.75, "auc_partial_vs_irrelevant": 0.6,
                     "auc_exact_vs_irrelevant": 0.85, "queries": 8},
            "bm25": {"ndcg@10": 0.3}}
    return {"primary_metric": "ndcg@10", "splits": {"validation": {"stage2": {"ndcg@10": 0.1}}, "test": test},
            "stage2": {"pairs": 12}, "boundaries": {"stage2": {"test_accuracy": 0.55}, "mnrl": {"test_accuracy": 0.5}}}


@pytest.fixture
def stage2_run(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "README.md").write_text("---\nlanguage: en\nlicense: apache-2.0\ntags: [x]\n---\n# base\n")
    config = TrainConfig.model_validate({"data": {"dir": str(tmp_path / "homedepot")}, "model": {"base": str(base)},
                                         "stage2": {"enabled": True}})
    run = tmp_path / "run7"
    _model_dir(run, {"embedding_dimension": 32, "pooling_mode": "cls", "include_prompt": True})
    return run, config, base


def test_card_metadata_parses_back_with_huggingface_hub(stage2_run):
    run, config, base = stage2_run
    text = write_model_card(run, config, _stage2_metrics(), SPLIT_COUNTS).read_text()
    assert text.startswith("---\n")
    data = ModelCard(text).data
    assert data.library_name == "sentence-transformers" and data.pipeline_tag == "sentence-similarity"
    assert data.tags == TAGS and {"sentence-transformers", "feature-extraction", "sentence-similarity", "mros",
                                  "graded-relevance"} <= set(data.tags)
    assert data.base_model == str(base) and data.datasets == ["homedepot"]
    assert data.language == "en" and data.license == "apache-2.0"  # from the base model's own card
    assert data.model_name == "mros-run7"
    got = [(r.task_type, r.dataset_name, r.dataset_split, r.metric_type, r.metric_value) for r in data.eval_results]
    assert got == [("text-retrieval", "homedepot", "test", "ndcg_at_10", 0.6),
                   ("text-retrieval", "homedepot", "test", "auc_exact_vs_partial", 0.7),
                   ("text-retrieval", "homedepot", "test", "auc_partial_vs_irrelevant", 0.8),
                   ("text-retrieval", "homedepot", "test", "auc_exact_vs_irrelevant", 0.9),
                   ("text-retrieval", "homedepot", "test", "boundary_accuracy", 0.55)]


def test_card_says_which_stage_and_pooling_it_describes(stage2_run):
    run, config, _ = stage2_run
    text = write_model_card(run, config, _stage2_metrics(), SPLIT_COUNTS).read_text()
    assert "This card describes **Stage 1 + Stage 2**" in text
    assert "- pooling: CLS-token pooling, L2-normalised" in text
    assert "mean pooling" not in text


def test_card_compares_with_mnrl_with_the_differences(stage2_run):
    run, config, _ = stage2_run
    text = write_model_card(run, config, _stage2_metrics(), SPLIT_COUNTS).read_text()
    table = text.split("## Against the MNRL recipe", 1)[1].split("\n\n## ", 1)[0]
    assert "| metric | mros (stage2) | MNRL recipe | difference |" in table
    for row in ("| ndcg@10 | 0.6000 | 0.5000 | +0.1000 |", "| auc_exact_vs_partial | 0.7000 | 0.7500 | -0.0500 |",
                "| auc_partial_vs_irrelevant | 0.8000 | 0.6000 | +0.2000 |",
                "| auc_exact_vs_irrelevant | 0.9000 | 0.8500 | +0.0500 |",
                "| boundary_accuracy | 0.5500 | 0.5000 | +0.0500 |"):
        assert row in table


def test_stage1_run_without_mnrl_says_so_and_how_to_get_it(tmp_path):
    config = TrainConfig.model_validate({"data": {"dir": str(tmp_path / "catalog-x")}, "model": {"base": "org/not-local"},
                                         "stage2": {"enabled": False}})
    run = tmp_path / "run"
    # the older pooling config layout (pooling_mode_* flags), no Normalize module
    _model_dir(run, {"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True},
               normalise=False)
    metrics = {"primary_metric": "ndcg@10", "splits": {"test": {"stage1": {"ndcg@10": 0.4}, "bm25": {"ndcg@10": 0.3}}}}
    text = write_model_card(run, config, metrics, SPLIT_COUNTS).read_text()
    assert "This card describes **Stage 1 only**" in text
    assert "- pooling: mean pooling, not normalised" in text
    assert f"Not measured: {HOW_TO_GET_IT}." in text and "`eval: {baselines: [bm25, base, mnrl]}`" in text
    data = ModelCard(text).data
    assert data.language is None and data.license is None  # not stated anywhere: not invented
    assert data.datasets == ["catalog-x"] and data.base_model == "org/not-local"
    assert [(r.metric_type, r.metric_value) for r in data.eval_results] == [("ndcg_at_10", 0.4)]


def test_metadata_without_huggingface_hub_is_the_same_card(stage2_run, monkeypatch):
    run, config, _ = stage2_run
    data = card_metadata(run, config, _stage2_metrics())
    with_hub = render_metadata(data)
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails: the PyYAML path
    without_hub = render_metadata(data)
    monkeypatch.undo()
    assert ModelCard(f"---\n{without_hub}\n---\n").data.to_dict() == ModelCard(f"---\n{with_hub}\n---\n").data.to_dict()


def test_comparison_without_boundaries_has_no_accuracy_row():
    metrics = _stage2_metrics()
    del metrics["boundaries"]
    comparison = compare_with_mnrl(metrics)
    assert (comparison.split, comparison.model) == ("test", "stage2")
    assert [row.metric for row in comparison.rows] == ["ndcg@10", "auc_exact_vs_partial", "auc_partial_vs_irrelevant",
                                                        "auc_exact_vs_irrelevant"]
    assert comparison.rows[0].difference == pytest.approx(0.1)
    assert compare_with_mnrl({"splits": {"test": {"stage1": {"ndcg@10": 0.4}}}}) is None
    assert comparison_markdown(None) == f"Not measured: {HOW_TO_GET_IT}."


def test_report_shows_the_mnrl_comparison(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(_stage2_metrics()))
    page = build_report(run).read_text(encoding="utf-8")
    section = page.split("<h2>mros against the MNRL recipe</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<th>mros (Stage 2)</th><th>MNRL recipe</th><th>difference</th>" in section
    assert "<tr><td>ndcg@10</td><td>0.6000</td><td>0.5000</td><td>+0.1000</td></tr>" in section
    assert "<tr><td>boundary_accuracy</td><td>0.5500</td><td>0.5000</td><td>+0.0500</td></tr>" in section


def test_report_without_mnrl_says_how_to_get_it(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"splits": {"test": {"stage1": {"ndcg@10": 0.4}}}}))
    page = build_report(run).read_text(encoding="utf-8")
    section = page.split("<h2>mros against the MNRL recipe</h2>", 1)[1].split("<h2>", 1)[0]
    assert "eval: {baselines: [bm25, base, mnrl]}" in section and "Not measured" in section
