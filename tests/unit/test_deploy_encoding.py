"""The client-mode deploy's encoding feed (``mr_opensearch.deploy.deploy.encoded_batches``): batches longest
text first, each with its own vectors, in order, with one or more encoder workers; an encoder error
reaches the bulk load; a bulk load that stops early stops the feed."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mr_opensearch.deploy.deploy import encoded_batches


def _docs(n: int) -> list[dict]:
    return [{"product_id": f"p{i}", "embedding_text": "x" * (1 + (i * 7) % 23)} for i in range(n)]


def _encode(texts: list[str]) -> np.ndarray:
    time.sleep(0.002 * (len(texts) % 3))  # batches finish out of order under two workers
    return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_batches_come_longest_first_with_their_own_vectors(workers):
    docs = _docs(50)
    timer = {"encode": 0.0}
    got = list(encoded_batches(docs, _encode, 8, timer, workers))
    flat = [d for chunk, _ in got for d in chunk]
    assert [len(chunk) for chunk, _ in got] == [8, 8, 8, 8, 8, 8, 2]
    assert sorted(d["product_id"] for d in flat) == sorted(d["product_id"] for d in docs)
    lengths = [len(d["embedding_text"]) for d in flat]
    assert lengths == sorted(lengths, reverse=True)
    for chunk, vectors in got:
        assert vectors[:, 0].tolist() == [len(d["embedding_text"]) for d in chunk]
    assert timer["encode"] > 0


def test_an_encoder_error_reaches_the_consumer():
    def failing(texts: list[str]) -> np.ndarray:
        if len(texts[0]) < 10:
            raise RuntimeError("model broke")
        return _encode(texts)

    with pytest.raises(RuntimeError, match="model broke"):
        list(encoded_batches(_docs(50), failing, 8, {"encode": 0.0}, 2))


def test_a_consumer_that_stops_early_stops_the_encoding():
    calls = []
    lock = threading.Lock()

    def counting(texts: list[str]) -> np.ndarray:
        with lock:
            calls.append(len(texts))
        return _encode(texts)

    feed = encoded_batches(_docs(400), counting, 4, {"encode": 0.0}, 2)
    next(feed)
    feed.close()
    assert len(calls) <= 2 + 2 + 1  # the batch read, the look-ahead of workers + 2, nothing after the close


def test_encode_workers_default_to_one_per_core_at_most_eight(monkeypatch):
    from mr_opensearch.deploy.deploy import DeployOptions, encode_workers

    assert encode_workers(DeployOptions(alias="a", encode_workers=3)) == 3
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(2)))
    assert encode_workers(DeployOptions(alias="a")) == 2
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(32)))
    assert encode_workers(DeployOptions(alias="a")) == 8
