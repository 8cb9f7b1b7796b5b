"""``mros run``: the job that joins training and serving (top layer, beside :mod:`mr_opensearch.cli`).

- :mod:`mr_opensearch.job.config`: the job's config file and profiles (``RunConfig``);
- :mod:`mr_opensearch.job.orchestration`: the steps in order, each skipped when done (``run_job``);
- :mod:`mr_opensearch.job.report`: the HTML report of a run directory (``mros report``).

Only this package and the CLI import both ``trainer`` and the serving side (docs/architecture.md).
"""
