"""`mros report` on a tiny trained run: the HTML is self-contained, and headless Chromium renders its
tables and every figure (checked in the DOM after load, plus a screenshot)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tiny_models import synthetic_data_and_base
from typer.testing import CliRunner

from mr_opensearch.cli import app

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--allow-file-access-from-files"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    data, base = synthetic_data_and_base(root, n_products=60, n_queries=40)
    config = root / "config.yaml"
    config.write_text("stage1: {epochs: 1, queries_per_batch: 8}\nmnrl: {epochs: 1, batch_size: 8}\n"
                      "stage2: {enabled: false}\neval: {baselines: [bm25, base, mnrl]}\n")
    run = root / "run"
    result = CliRunner().invoke(app, ["--no-progress", "train", "--data", str(data), "--base", str(base),
                                      "--config", str(config), "--out", str(run)])
    assert result.exit_code == 0, result.output
    # a labeler's held-out metrics, as `mros label train` writes them
    from trainer.labeler.metrics import classification_metrics

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 60)
    predicted = np.where(rng.random(60) < 0.7, truth, rng.integers(0, 3, 60))
    (run / "labeler").mkdir()
    (run / "labeler" / "metrics.json").write_text(json.dumps({"backbone": "tiny", **classification_metrics(truth, predicted)}))
    return run


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium on this machine (CI installs Debian's `chromium`; `apt-get install chromium`)")


def test_report_is_self_contained_with_every_section(trained_run):
    result = CliRunner().invoke(app, ["report", str(trained_run), "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    page = Path(written["html"]).read_text(encoding="utf-8")
    metrics = json.loads((trained_run / "metrics.json").read_text())
    # every model of the test split is a table row, with its nDCG@10 as the table shows it
    for name, label in (("stage1", "Stage 1"), ("bm25", "BM25 (titles)"), ("base", "base model"), ("mnrl", "MNRL recipe")):
        assert label in page
        assert f"{metrics['splits']['test'][name]['ndcg@10']:.4f}" in page
    assert not re.search(r'<img[^>]+src="(?!data:image/png;base64,)', page)  # no external files
    names = {Path(p).name for p in written["figures"]}
    assert {"scores_test.png", "boundaries_validation.png", "labeler_confusion_matrix.png"} <= names
    assert "no in-engine measurements" in page  # this run was not deployed: said, not hidden
    assert "Labeler" in page and "within1_accuracy" in page


def test_chromium_renders_tables_and_figures(trained_run, tmp_path):
    chromium = _chromium()
    page = Path(CliRunner().invoke(app, ["--quiet", "report", str(trained_run), "--out", str(tmp_path / "r")]).stdout.strip())
    # a copy with a probe script: after load it records how many images decoded and how many table rows exist
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", "<script>window.addEventListener('load',()=>{const ok=[...document.images].filter("
        "i=>i.complete&&i.naturalWidth>0).length;document.body.setAttribute('data-images',ok+'/'+document.images.length);"
        "document.body.setAttribute('data-rows',document.querySelectorAll('tr').length);});</script></body>"), encoding="utf-8")
    env = {**os.environ, "HOME": str(tmp_path)}
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile1'}", "--virtual-time-budget=5000",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120, env=env).stdout
    images = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert images, dom[:500]
    loaded, total = int(images.group(1)), int(images.group(2))
    assert total >= 3 and loaded == total
    assert int(re.search(r'data-rows="(\d+)"', dom).group(1)) >= 8
    shot = tmp_path / "report.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--window-size=1280,2400",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, env=env, check=True)
    from PIL import Image

    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[:2] == (2400, 1280)
    assert image.std() > 10  # not a blank page


def test_report_of_a_missing_run_fails_clearly(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_ablation_rows_from_a_file_become_a_table(trained_run, tmp_path):
    rows = [{"variant": "stage1", "ndcg@10": 0.31}, {"variant": "+mining", "ndcg@10": 0.33}]
    ablation = tmp_path / "ablation.json"
    ablation.write_text(json.dumps(rows))
    result = CliRunner().invoke(app, ["report", str(trained_run), "--out", str(tmp_path / "r"), "--ablation", str(ablation)])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "<td>+mining</td>" in page and "0.3300" in page
    assert "no ablation.json" not in page
