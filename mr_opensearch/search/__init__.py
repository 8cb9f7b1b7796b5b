"""Reading a deployed index: its manifest, the model it serves, BM25 / dense / hybrid queries and
their fusion, the judgments, and evaluation against the live index.

Imports the core and cluster access.
"""
