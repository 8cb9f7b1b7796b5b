"""The three relevance grades and how raw judgments map onto them.

mros works with three ordered grades, as in the Mine-and-Refine paper:

====  ============  =============================================
int   name          meaning
====  ============  =============================================
2     ``exact``     the product is what the query asks for
1     ``partial``   a substitute / partially matching product
0     ``irrelevant``  not what the query asks for
====  ============  =============================================

Judgments may carry a grade name (``exact``, ``partial``, ``substitute``, ``irrelevant``, or the
single letters ``E``/``S``/``I`` of the ESCI scheme, case-insensitive), an integer grade (0/1/2) or a
raw relevance score which :class:`GradeMapping` cuts into grades (default: the Home Depot data's
mean-of-three-raters scale, >= 2.67 exact, >= 2.0 partial, else irrelevant).
"""

from __future__ import annotations

import math
from enum import IntEnum

from pydantic import BaseModel, Field, model_validator

from mr_opensearch.grading import DEFAULT_EXACT, DEFAULT_PARTIAL, GRADE_ALIASES, cut


class Grade(IntEnum):
    IRRELEVANT = 0
    PARTIAL = 1
    EXACT = 2

    @property
    def label(self) -> str:
        return self.name.lower()


GRADE_NAMES: dict[str, Grade] = {name: Grade(grade) for name, grade in GRADE_ALIASES.items()}


class UnknownGradeError(ValueError):
    """A grade value that is neither a known name, 0/1/2, nor a number the mapping can cut."""


class GradeMapping(BaseModel):
    """Cuts a raw relevance score into the three grades: ``score >= exact`` is exact,
    ``score >= partial`` is partial, anything lower is irrelevant."""

    exact: float = Field(DEFAULT_EXACT, description="lowest raw relevance graded exact")
    partial: float = Field(DEFAULT_PARTIAL, description="lowest raw relevance graded partial")

    @model_validator(mode="after")
    def _ordered(self) -> GradeMapping:
        if not self.partial < self.exact:
            raise ValueError(f"grade mapping needs partial < exact, got partial={self.partial}, exact={self.exact}")
        return self

    def grade_of_score(self, score: float) -> Grade:
        return Grade(cut(score, self.exact, self.partial))


def parse_grade(value: object, column: str, mapping: GradeMapping | None) -> Grade:
    """Turn one cell into a :class:`Grade`.

    ``column`` is ``"grade"`` (names or 0/1/2) or ``"relevance"`` (raw scores cut by ``mapping``).
    Raises :class:`UnknownGradeError` with the offending value.
    """
    if isinstance(value, str):
        text = value.strip()
        if column == "grade" and text.lower() in GRADE_NAMES:
            return GRADE_NAMES[text.lower()]
        try:
            number = float(text)
        except ValueError:
            known = ", ".join(sorted({k for k in GRADE_NAMES if len(k) > 1}))
            raise UnknownGradeError(f"unknown grade {value!r} (expected one of {known} or a number)") from None
    elif isinstance(value, bool) or value is None:
        raise UnknownGradeError(f"unknown grade {value!r}")
    else:
        number = float(value)  # type: ignore[arg-type]
    if math.isnan(number):
        raise UnknownGradeError("empty grade")
    if column == "grade":
        if number in (0.0, 1.0, 2.0):
            return Grade(int(number))
        raise UnknownGradeError(f"unknown grade {value!r} (integer grades are 0, 1 or 2)")
    if mapping is None:
        raise UnknownGradeError("raw relevance needs a grade mapping")
    return mapping.grade_of_score(number)
