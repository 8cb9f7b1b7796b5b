"""A local OpenSearch 3.x node assembled from Maven Central (``mros opensearch``).

One concept per module: ``versions`` (what is pinned and why), ``java`` (finding JDK 21+),
``maven`` (fetching artifacts), ``assembly`` (building the home in the cache), ``djl`` (offline
libtorch for ML Commons), ``config`` (per-node settings), ``state`` (where a node's files live),
``process`` (start/stop/wait), ``lifecycle`` (up/status/down) and ``docker`` (``--docker``).
"""
