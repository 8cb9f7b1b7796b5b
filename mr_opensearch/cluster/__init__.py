"""Cluster access: connecting (TLS, credentials), the one retry policy of every request, disk
watermarks, the k-NN index primitives, and the local OpenSearch node (``node/``).

Imports the core only.
"""
