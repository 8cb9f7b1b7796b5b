"""``mros serve``: the search service for applications (HTTP JSON over :class:`~mr_opensearch.search.searcher.Searcher`),
its Prometheus metrics and the relevance page.

Imports every serving package below it; only the CLI imports it.
"""
