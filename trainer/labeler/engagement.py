"""Engagement logs: validated loading, and a position-based click model to simulate them.

Log format (CSV/TSV, JSONL or Parquet), one row per (query, product)::

    query, product_uid, impressions, clicks[, add_to_carts, orders]

Counts are non-negative integers with ``clicks <= impressions``; missing ``add_to_carts`` /
``orders`` columns count as 0. Repeated (query, product) rows (e.g. one per day) are summed.

Simulation: a position-based model (PBM; Craswell et al., 2008; Chuklin, Markov & de Rijke, 2015,
"Click Models for Web Search", ch. 3) driven by the true grades. For every query, ``S_q`` sessions
are drawn (log-normal traffic: ``S_q = round(sessions_mean * exp(sigma * N(0,1) - sigma^2/2))``, at
least 1; ``sigma = 0`` gives exactly ``sessions_mean``). In each session a noisy engine ranks the
query's judged products by ``ranker_strength * grade + Gumbel(0, 1)`` and shows the top
``page_size``. Each shown product gets one impression; the product at rank ``r`` (1-based) is

    examined     with P(E = 1 | r)        = 1 / r^eta                (position bias)
    clicked      with P(C = 1 | E = 1, g) = click_prob[g]            (attractiveness of the grade)
    added to cart with P(A = 1 | C = 1, g) = add_to_cart_prob[g]
    ordered      with P(O = 1 | A = 1, g) = order_prob[g]

so the expected click-through of a product shown at rank ``r`` is ``click_prob[g] / r^eta``. The
generator is seeded (NumPy PCG64): the same config and seed give the same log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from trainer.data import DataError, iter_records
from trainer.strict import StrictModel

COUNT_COLUMNS = ["impressions", "clicks", "add_to_carts", "orders"]
REQUIRED = ["query", "product_uid", "impressions", "clicks"]


def _count(path: Path | str, line: int, column: str, value: object) -> int:
    if value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str) and not value.strip()):
        raise DataError(path, line, f"empty {column}", f"write a count (0 or more) in {column}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(path, line, f"{column} {value!r} is not a number", "counts are non-negative integers") from None
    if number < 0:
        raise DataError(path, line, f"negative {column} ({value})", "counts are non-negative integers")
    if number != int(number):
        raise DataError(path, line, f"{column} {value!r} is not a whole number", "counts are non-negative integers")
    return int(number)


def load_engagement(path: Path | str) -> pd.DataFrame:
    """Read and validate an engagement log; returns a frame with ``query, product_uid`` and the four
    counts (repeated pairs summed). Raises :class:`DataError` naming the file and line."""
    rows = []
    for line, rec in iter_records(path, REQUIRED):
        if "__error__" in rec:
            raise DataError(path, line, str(rec["__error__"]), "fix the row")
        query = "" if rec.get("query") is None else str(rec["query"]).strip()
        pid = "" if rec.get("product_uid") is None else str(rec["product_uid"]).strip()
        if not query:
            raise DataError(path, line, "empty query", "fill in or remove the row")
        if not pid:
            raise DataError(path, line, "empty product_uid", "fill in or remove the row")
        counts = [_count(path, line, c, rec[c]) if c in rec else 0 for c in COUNT_COLUMNS]
        if counts[1] > counts[0]:
            raise DataError(path, line, f"more clicks ({counts[1]}) than impressions ({counts[0]})",
                            "check the columns: clicks can not exceed impressions")
        rows.append((query, pid, *counts))
    if not rows:
        raise DataError(path, None, "the engagement log is empty", "the log needs a header and at least one row")
    frame = pd.DataFrame(rows, columns=["query", "product_uid", *COUNT_COLUMNS])
    return frame.groupby(["query", "product_uid"], as_index=False, sort=False)[COUNT_COLUMNS].sum()


class ClickModelConfig(StrictModel):
    """Parameters of the position-based click model (see the module docstring). Per-grade
    probabilities are listed for grades ``[irrelevant, partial, exact]``."""

    sessions_mean: float = Field(200.0, gt=0, description="mean sessions (searches) per query")
    sessions_sigma: float = Field(1.0, ge=0, description="log-normal spread of traffic across queries")
    page_size: int = Field(10, ge=1)
    eta: float = Field(1.0, ge=0, description="position-bias exponent: P(examine | rank r) = r^-eta")
    ranker_strength: float = Field(1.0, ge=0, description="how much the simulated engine ranks by grade")
    click_prob: list[float] = Field([0.04, 0.20, 0.45], min_length=3, max_length=3)
    add_to_cart_prob: list[float] = Field([0.02, 0.10, 0.25], min_length=3, max_length=3)
    order_prob: list[float] = Field([0.20, 0.40, 0.60], min_length=3, max_length=3)
    seed: int = 0


def simulate_sessions(labels: pd.DataFrame, config: ClickModelConfig | None = None
                      ) -> Iterator[tuple[str, np.ndarray, dict[str, np.ndarray]]]:
    """Per query (in label order): ``(query, product ids, arrays)`` where the arrays, each ``(sessions,
    products)``, are ``rank`` (1-based), ``shown``, ``clicked``, ``carted`` and ``ordered`` (see the module
    docstring). The engine ranks by the column ``rank_grade`` where ``labels`` has one (e.g. noisy labels a
    ranker was trained on), else by ``grade``. One seeded generator draws them in a fixed order, so :func:`simulate_engagement` and
    :func:`trainer.labeler.ubi_simulation.simulate_ubi` see the same sessions for the same config."""
    config = config or ClickModelConfig()
    rng = np.random.default_rng(config.seed)
    click = np.asarray(config.click_prob)
    atc = np.asarray(config.add_to_cart_prob)
    order = np.asarray(config.order_prob)
    for query, group in labels.groupby("query", sort=False):
        grades = group["grade"].to_numpy(dtype=np.int64)
        n = len(grades)
        if config.sessions_sigma > 0:
            z = rng.standard_normal()
            s = config.sessions_mean * np.exp(config.sessions_sigma * z - config.sessions_sigma**2 / 2)
        else:
            s = config.sessions_mean
        sessions = max(1, round(s))
        ranked_by = group["rank_grade"].to_numpy(dtype=np.int64) if "rank_grade" in group else grades
        scores = config.ranker_strength * ranked_by[None, :] + rng.gumbel(size=(sessions, n))
        ranks = np.empty((sessions, n), dtype=np.int64)  # 1-based rank of each product per session
        ranks[np.arange(sessions)[:, None], np.argsort(-scores, axis=1)] = np.arange(1, n + 1)[None, :]
        shown = ranks <= config.page_size
        examined = shown & (rng.random((sessions, n)) < ranks.astype(np.float64) ** -config.eta)
        clicked = examined & (rng.random((sessions, n)) < click[grades][None, :])
        carted = clicked & (rng.random((sessions, n)) < atc[grades][None, :])
        ordered = carted & (rng.random((sessions, n)) < order[grades][None, :])
        yield str(query), group["product_uid"].astype(str).to_numpy(), {
            "rank": ranks, "shown": shown, "clicked": clicked, "carted": carted, "ordered": ordered}


def simulate_engagement(labels: pd.DataFrame, config: ClickModelConfig | None = None) -> pd.DataFrame:
    """Simulate a log from true grades. ``labels`` has ``query, product_uid, grade``; returns the
    log frame (``query, product_uid, impressions, clicks, add_to_carts, orders``) in label order."""
    frames = []
    for query, ids, arrays in simulate_sessions(labels, config):
        frames.append(pd.DataFrame({
            "query": query, "product_uid": ids,
            "impressions": arrays["shown"].sum(0), "clicks": arrays["clicked"].sum(0),
            "add_to_carts": arrays["carted"].sum(0), "orders": arrays["ordered"].sum(0)}))
    if not frames:
        return pd.DataFrame(columns=["query", "product_uid", *COUNT_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def inject_label_noise(labels: pd.DataFrame, rate: float, seed: int = 0) -> pd.DataFrame:
    """Copy of ``labels`` with a fraction ``rate`` of grades (chosen uniformly, seeded) replaced by a
    different grade drawn uniformly from the other two. Adds ``true_grade`` and ``noisy`` columns."""
    rng = np.random.default_rng(seed)
    out = labels.copy()
    out["true_grade"] = out["grade"].astype(int)
    k = round(rate * len(out))
    chosen = rng.choice(len(out), size=k, replace=False)
    shift = rng.integers(1, 3, size=k)  # +1 or +2 mod 3: always a different grade
    grades = out["grade"].to_numpy(dtype=np.int64).copy()
    grades[chosen] = (grades[chosen] + shift) % 3
    out["grade"] = grades
    out["noisy"] = out["grade"] != out["true_grade"]
    return out
