"""The version of mros (one place; ``mr_opensearch.__version__`` re-exports it)."""

__version__ = "0.1.0"
