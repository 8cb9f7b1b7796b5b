"""Building and moving indices: the deploy, the alias lock, preflight checks, text analyzers, ingest
pipelines, ML Commons registration, rollback and status, and the kill points of crash tests.

Imports the core, cluster access and search (the manifest, the served model, fusion settings).
"""
