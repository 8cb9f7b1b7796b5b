"""Relevance scores and grade names → the three ordered grades (serving side, torch/pandas free).

mros grades a (query, product) pair ``0`` irrelevant, ``1`` partial or ``2`` exact. Judgments carry
either a grade (a name, an ESCI letter, or 0/1/2) or a raw relevance score on a bounded scale that
:class:`GradeMapping` cuts::

    grade = 2  if relevance >= exact     (default 2.67)
            1  if relevance >= partial   (default 2.0)
            0  otherwise

on the scale ``[low, high]`` (default 1–3, the Home Depot mean of three raters). A relevance outside
the scale (0, 4, inf, nan, ...) is refused: it means the file is on another scale and the cut would be
meaningless. Messages are plain problem statements, so a reader can prefix them with ``FILE:LINE:``.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mr_opensearch.core.errors import MrosError

GRADE_NAMES: tuple[str, str, str] = ("irrelevant", "partial", "exact")
"""Grade names by grade number."""

DEFAULT_EXACT = 2.67
DEFAULT_PARTIAL = 2.0

GRADE_ALIASES: dict[str, int] = {
    "exact": 2,
    "e": 2,
    "partial": 1,
    "substitute": 1,
    "s": 1,
    "complement": 1,
    "c": 1,
    "irrelevant": 0,
    "i": 0,
}
"""Accepted grade spellings (lower-case) → grade number; ESCI letters included."""

SCALE_HINT = "set the grade mapping's scale and thresholds to the file's relevance scale, or give grades (0/1/2)"


def cut(score: float, exact: float, partial: float) -> int:
    """The grade of ``score`` for the thresholds ``exact`` > ``partial`` (no scale check)."""
    if score >= exact:
        return 2
    if score >= partial:
        return 1
    return 0


class GradeMapping(BaseModel):
    """Thresholds that cut a raw relevance on ``[low, high]`` into grades (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exact: float = Field(DEFAULT_EXACT, description="lowest relevance graded exact")
    partial: float = Field(DEFAULT_PARTIAL, description="lowest relevance graded partial")
    low: float = Field(1.0, description="lowest relevance on the scale")
    high: float = Field(3.0, description="highest relevance on the scale")

    @model_validator(mode="after")
    def _ordered(self) -> GradeMapping:
        values = (self.low, self.partial, self.exact, self.high)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"grade mapping values must be finite, got {values}")
        if not (self.low <= self.partial < self.exact <= self.high):
            raise ValueError(
                "grade mapping needs low <= partial < exact <= high, got "
                f"low={self.low}, partial={self.partial}, exact={self.exact}, high={self.high}"
            )
        return self

    def grade_of(self, relevance: float) -> int:
        """Grade 0/1/2 of ``relevance``; :class:`MrosError` when it is not a number on the scale."""
        if isinstance(relevance, bool) or not isinstance(relevance, int | float):
            raise MrosError(f"relevance {relevance!r} is not a number", SCALE_HINT)
        return self._cut(float(relevance), repr(relevance))

    def grade_of_text(self, text: str) -> int:
        """Grade of a relevance cell as read from a file (``"2.33"``); errors quote the cell."""
        shown = repr(text.strip())
        try:
            value = float(text.strip())
        except ValueError:
            raise MrosError(f"relevance {shown} is not a number", SCALE_HINT) from None
        return self._cut(value, shown)

    def _cut(self, value: float, shown: str) -> int:
        if math.isnan(value) or not (self.low <= value <= self.high):
            raise MrosError(f"relevance {shown} is outside the scale {self.low:g}..{self.high:g}", SCALE_HINT)
        return cut(value, self.exact, self.partial)


def parse_grade_name(text: str) -> int:
    """Grade number of a grade cell: a name/ESCI letter (any case) or the integers 0, 1, 2."""
    value = text.strip()
    if value.lower() in GRADE_ALIASES:
        return GRADE_ALIASES[value.lower()]
    if value in ("0", "1", "2"):
        return int(value)
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if number in (0.0, 1.0, 2.0):
        return int(number)
    known = ", ".join(sorted(k for k in GRADE_ALIASES if len(k) > 1))
    raise MrosError(f"unknown grade {value!r}", f"use one of {known}, an ESCI letter (E/S/C/I) or 0, 1, 2")
