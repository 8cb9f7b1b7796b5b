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

from pydantic import model_serializer

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.grading import GRADE_ALIASES
from mr_opensearch.core.grading import GradeMapping as ScaleMapping


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


class OutOfScaleError(UnknownGradeError):
    """A raw relevance outside the mapping's scale: the file is on another scale than the mapping says."""


class GradeMapping(ScaleMapping):
    """Cuts a raw relevance score into the three grades: ``score >= exact`` is exact,
    ``score >= partial`` is partial, anything lower is irrelevant. The scale ``[low, high]`` (default
    1..3, the Home Depot data's) bounds what a score may be: a value outside it (0, 4, inf, nan) is
    refused, since it means the file uses another scale (a 1..5 file cut at 2.67 would be graded
    almost all exact). Same fields and checks as the serving side's :class:`mr_opensearch.core.grading.GradeMapping`.
    """

    @model_serializer(mode="wrap")
    def _without_default_scale(self, handler):  # type: ignore[no-untyped-def]
        # The scale was added after runs existed: left at its default it stays out of dumps, so the
        # content hashes of existing runs' steps do not change.
        data = handler(self)
        if isinstance(data, dict):
            for key, default in (("low", 1.0), ("high", 3.0)):
                if data.get(key) == default:
                    data.pop(key)
        return data

    def grade_of_score(self, score: float, shown: str | None = None) -> Grade:
        try:
            return Grade(self._cut(float(score), shown or repr(score)))
        except MrosError as exc:
            raise OutOfScaleError(exc.message) from None


SCALE_HINT = ("set data.grade_mapping to the file's relevance scale (e.g. {low: 1, high: 5, partial: 3, exact: 4.5} "
              "for a 1..5 scale), or give grades (0/1/2) in a grade column")


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
    return mapping.grade_of_score(number, repr(value.strip()) if isinstance(value, str) else None)
