"""mros: Mine and Refine for OpenSearch.

The OpenSearch side of mros (local node, ML Commons registration, index and pipeline deployment)
and the ``mros`` command-line interface. The training side lives in the sibling package ``trainer``.
"""

__version__ = "0.1.0"
