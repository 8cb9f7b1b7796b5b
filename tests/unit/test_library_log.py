"""Library output (warnings, logging, progress bars, prints) goes to the run's log file; mros's own lines
and bars stay on the console; ``--debug`` shows the library output on stderr."""

from __future__ import annotations

import csv
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from mr_opensearch.cli._library_log import LibraryStream, console_log, library_output_to, run_log_path

ROOT = Path(__file__).resolve().parents[2]


def _library_noise() -> None:
    """What the ML libraries do during a training: a warning, logger lines, a bare root-logger line,
    a print and a tqdm bar on the default stream."""
    from tqdm.auto import tqdm

    warnings.warn("pin_memory is set but no accelerator is found", UserWarning, stacklevel=1)
    logging.getLogger("transformers.modeling_utils").warning("Loading weights of a library model")
    logging.getLogger("sentence_transformers").warning("Computing widget examples")
    logging.warning("Please consider to run pre-processing before quantization")
    print("{'train_runtime': 1.0}")
    for _ in tqdm(range(3), desc="library bar", mininterval=0):
        pass


def test_library_output_lands_in_the_log_file_and_mros_lines_on_the_console(tmp_path, capfd, request):
    from mr_opensearch.core.console import console_stream
    from trainer.console import console_bar

    log_file = run_log_path(tmp_path / "run")
    assert log_file == tmp_path / "run" / "logs" / "mros.log"
    messages: list[str] = []
    transformers_logger = logging.getLogger("transformers")
    before = (list(transformers_logger.handlers), transformers_logger.propagate)
    # what the test routes must be emitted: an earlier test in this process may have left transformers'
    # verbosity at ERROR (its default is WARNING)
    request.addfinalizer(lambda level=transformers_logger.level: transformers_logger.setLevel(level))
    transformers_logger.setLevel(logging.WARNING)

    def info(message: str) -> None:  # the CLI's info(): a line on stderr
        messages.append(message)
        print(message, file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with library_output_to(log_file, debug=False) as stream:
            assert isinstance(stream, LibraryStream) and console_stream() is stream.console
            _library_noise()
            console_log(info)("stage 1: training")
            for _ in console_bar(iterable=range(2), desc="mros step", unit="step", mininterval=0):
                pass
    err = capfd.readouterr().err
    assert "stage 1: training" in err and "mros step" in err  # mros's own line and bar
    for noise in ("UserWarning", "Loading weights", "widget", "pre-processing", "train_runtime", "library bar", "it/s"):
        assert noise not in err, noise
    logged = log_file.read_text()
    for expected in ("UserWarning: pin_memory is set", "WARNING transformers.modeling_utils: Loading weights",
                     "Computing widget examples", "WARNING root: Please consider", "{'train_runtime': 1.0}",
                     "library bar", "mros: stage 1: training"):
        assert expected in logged, expected
    assert "mros step" not in logged
    assert messages == ["stage 1: training"]
    # everything is put back
    assert not isinstance(sys.stderr, LibraryStream) and not isinstance(sys.stdout, LibraryStream)
    assert (transformers_logger.handlers, transformers_logger.propagate) == before
    assert all(not isinstance(getattr(h, "stream", None), LibraryStream) for h in logging.getLogger().handlers)


def test_debug_leaves_library_output_where_it_was(tmp_path, capfd):
    log_file = tmp_path / "logs" / "mros.log"
    stderr, showwarning = sys.stderr, warnings.showwarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with library_output_to(log_file, debug=True) as stream:
            assert stream is None and sys.stderr is stderr and warnings.showwarning is showwarning
            _library_noise()
    err = capfd.readouterr()
    assert "library bar" in err.err and "train_runtime" in err.out
    assert [str(w.message) for w in caught] == ["pin_memory is set but no accelerator is found"]
    assert not log_file.exists()


def test_no_output_creates_no_log_file_or_directory(tmp_path):
    """A command that fails on its input before any output leaves no run directory behind."""
    run = tmp_path / "run"
    with pytest.raises(ValueError), library_output_to(run_log_path(run)):
        raise ValueError("bad row")
    assert not run.exists()


@pytest.mark.slow
def test_mros_train_keeps_library_output_off_the_console(tmp_path):
    """A tiny `mros train` (Stage 1 through the HF trainer, ONNX export, evaluation) with progress on:
    stderr holds mros's lines and its own step bar only; the warnings are in RUN/logs/mros.log. Then
    `mros export --debug` of the trained model shows the export's warnings on stderr."""
    from tiny_models import build_tiny_sentence_transformer, write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", n_products=40, n_queries=30, seed=5)
    with open(data / "products.csv", encoding="utf-8") as products:
        base = build_tiny_sentence_transformer(tmp_path / "base", [r[1] for r in csv.reader(products)])
    config = tmp_path / "config.yaml"
    config.write_text("stage1: {epochs: 1, queries_per_batch: 8}\nstage2: {enabled: false}\n"
                      "eval: {baselines: [base]}\nboundaries: {enabled: false}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "MROS_NO_PROGRESS": "0"}
    env.pop("TQDM_DISABLE", None)
    run = tmp_path / "run"
    train = subprocess.run([sys.executable, "-m", "mr_opensearch", "train", "--data", str(data), "--base", str(base),
                            "--config", str(config), "--out", str(run)],
                           env=env, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr
    assert "stage 1: training from" in train.stderr and "export: ONNX fp32 + int8" in train.stderr
    assert "stage 1: 100%" in train.stderr  # mros's own bar for the step
    for noise in ("UserWarning", "TracerWarning", "Loading weights", "it/s", "Computing widget", "WARNING"):
        assert noise not in train.stderr, noise
    logged = (run / "logs" / "mros.log").read_text()
    assert "UserWarning" in logged and "Loading weights" in logged and "train_loss" in logged
    assert "pin_memory" not in logged  # no pinned memory without an accelerator, so no warning about it

    export = subprocess.run([sys.executable, "-m", "mr_opensearch", "--debug", "export", "--model", str(run / "model"),
                             "--out", str(tmp_path / "export"), "--package", "fp32", "--no-quantize"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert export.returncode == 0, export.stderr
    assert "Warning" in export.stderr and "Loading weights" in export.stderr
    assert not (tmp_path / "export" / "logs").exists()
