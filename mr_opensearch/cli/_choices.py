"""The enumerated option values of the CLI, as ``enum.StrEnum`` types: typer lists the choices in ``--help``
and refuses any other value while parsing the command line (a usage error, exit 2). Each enum's values are
those of the module that uses them (a test checks they agree)."""

from __future__ import annotations

import enum
from collections.abc import Callable

import typer


class SearchMode(enum.StrEnum):
    """``mros search --mode``, ``mros eval --modes`` (:data:`mr_opensearch.search.queries.MODES`)."""

    bm25 = "bm25"
    dense = "dense"
    hybrid = "hybrid"


class CopyMethod(enum.StrEnum):
    """``mros deploy --copy`` (:data:`mr_opensearch.deploy.incremental.COPY_METHODS`)."""

    clone = "clone"
    read = "read"
    reindex = "reindex"


class Split(enum.StrEnum):
    """``mros eval --run RUN --split`` (:data:`trainer.splits.SPLITS`)."""

    train = "train"
    validation = "validation"
    test = "test"


class EngagementSplit(enum.StrEnum):
    """``mros label simulate-engagement --split``: every query, or one split's."""

    all = "all"
    train = "train"
    validation = "validation"
    test = "test"


class Signal(enum.StrEnum):
    """``mros label audit --signal`` (:class:`trainer.labeler.audit.AuditConfig`)."""

    clicks = "clicks"
    add_to_carts = "add_to_carts"
    orders = "orders"


class EngagementFormat(enum.StrEnum):
    """``mros label simulate-engagement --format``: per-pair counts, or UBI 1.3.0 events and queries."""

    counts = "counts"
    ubi = "ubi"


class Estimator(enum.StrEnum):
    """``mros label audit --estimator`` (:class:`trainer.labeler.audit.AuditConfig`)."""

    auto = "auto"
    impressions = "impressions"
    coec_srw = "coec_srw"
    coec = "coec"
    pbm = "pbm"


class OnFlag(enum.StrEnum):
    """``mros label audit --on-flag``: what happens to a flagged pair."""

    auto = "auto"
    rejudge = "rejudge"
    drop = "drop"


class ExportFormat(enum.StrEnum):
    """``mros label export --format``."""

    srw = "srw"


class RanksBy(enum.StrEnum):
    """``mros label simulate-engagement --engine-ranks-by``: what the simulated engine ranks by."""

    truth = "truth"
    noisy = "noisy"


class ClientVariant(enum.StrEnum):
    """``mros export --client-variant``: the variant client mode serves."""

    openvino_int8 = "openvino-int8"
    int8 = "int8"
    fp32 = "fp32"


class Package(enum.StrEnum):
    """``mros export --package``: the variant zipped for ML Commons."""

    int8 = "int8"
    fp32 = "fp32"


def comma_separated(choices: type[enum.StrEnum], option: str) -> Callable[[str | None], list[enum.StrEnum] | None]:
    """A callback for an option holding a comma-separated subset of ``choices`` (``--modes bm25,hybrid``): the
    list of enum members, without repeats; any other value is a usage error while parsing (exit 2)."""

    def convert(value: str | None) -> list[enum.StrEnum] | None:
        if value is None:
            return None
        names = [part.strip() for part in value.split(",") if part.strip()]
        allowed = [c.value for c in choices]
        bad = [name for name in names if name not in allowed]
        if bad or not names:
            raise typer.BadParameter(f"{', '.join(repr(b) for b in bad) or 'an empty list'} is not a "
                                     f"comma-separated subset of {','.join(allowed)}", param_hint=f"'{option}'")
        return [choices(name) for name in dict.fromkeys(names)]

    return convert


def metavar(choices: type[enum.StrEnum]) -> str:
    """The metavar of a comma-separated subset of ``choices``, in typer's style: ``<bm25|dense|hybrid>,...``."""
    return "<" + "|".join(c.value for c in choices) + ">,..."
