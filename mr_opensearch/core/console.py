"""The stream mros's own progress bars draw on.

While a training command (``mros train``, ``mros run``, ``mros label train``, ``mros export``) runs,
the CLI points ``sys.stderr`` at the run's log file so that the ML libraries' output lands there
(``mr_opensearch.cli._library_log``); that stream's ``console`` attribute is the real stderr.
:func:`console_stream` returns it, and plain ``sys.stderr`` otherwise.
"""

from __future__ import annotations

import sys
from typing import TextIO


def console_stream() -> TextIO:
    """The real stderr, also while library output is redirected to a log file."""
    return getattr(sys.stderr, "console", sys.stderr)
