"""The pinned OpenSearch release and the Maven coordinates a local node is assembled from.

Why 3.5.0
---------
The node is built only from what the Maven registry this project reaches serves (no other download
site is reachable in CI). On 2026-11-24 that registry served:

- ``org.opensearch.distribution.integ-test-zip:opensearch:3.5.0:zip`` - the minimal runnable
  distribution (server, ``bin/``, the JDK-less launcher and all core modules).
- ``org.opensearch.plugin:opensearch-knn`` only at ``3.5.0.0`` (and ``2.19.1.0``); ``3.8.0.0`` is
  not served. k-NN is the plugin everything else stands on, so 3.5.0 is the newest 3.x release for
  which the server and k-NN resolve together. 3.5 is also the first release with a top-level
  ``min_score`` on ``hybrid`` queries (``lower_bounds`` in ``normalization-processor`` needs 3.0+).

Plugins that do not resolve from Maven are reported, not hidden (see ``mros opensearch status``):
on that day ``opensearch-job-scheduler`` was served only up to ``3.4.0.0`` and the ML Commons
(``org.opensearch.plugin:opensearch-ml-plugin``) and neural-search
(``org.opensearch.plugin:neural-search``) zips were not served at any version. A zip obtained
elsewhere can be installed with ``mros opensearch up --plugin-zip PATH`` (or by dropping it into
``$MROS_CACHE_DIR/plugin-zips/``, a folder in ``$MROS_PLUGIN_ZIPS``, or ``shared/opensearch-plugins/``
beside the checkout).

The k-NN zip on Maven carries no faiss/nmslib native libraries, so vector fields use the
``lucene`` engine.
"""

from __future__ import annotations

from dataclasses import dataclass

OPENSEARCH_VERSION = "3.5.0"
"""The OpenSearch release ``mros opensearch up`` assembles (see the module docstring for why)."""

PLUGIN_VERSION = OPENSEARCH_VERSION + ".0"
"""Plugins are versioned as the OpenSearch release plus a fourth digit."""

MIN_JAVA = 21
"""OpenSearch 3.x runs on Java 21 or newer."""


@dataclass(frozen=True)
class PluginSpec:
    """A plugin the node should have.

    Attributes:
        name: the plugin's name as ``_cat/plugins`` reports it (and its folder under ``plugins/``).
        coordinates: Maven coordinates ``group:artifact:version:zip`` of its zip.
        needs: plugins that must be installed first (OpenSearch ``extendedPlugins``).
    """

    name: str
    coordinates: str
    needs: tuple[str, ...] = ()


def distribution_coordinates(version: str = OPENSEARCH_VERSION) -> str:
    """Maven coordinates of the minimal runnable OpenSearch distribution."""
    return f"org.opensearch.distribution.integ-test-zip:opensearch:{version}:zip"


def plugin_specs(version: str = OPENSEARCH_VERSION) -> list[PluginSpec]:
    """The four plugins mros needs, in install order."""
    pv = version + ".0"
    return [
        PluginSpec("opensearch-job-scheduler", f"org.opensearch.plugin:opensearch-job-scheduler:{pv}:zip"),
        PluginSpec("opensearch-knn", f"org.opensearch.plugin:opensearch-knn:{pv}:zip"),
        PluginSpec(
            "opensearch-ml",
            f"org.opensearch.plugin:opensearch-ml-plugin:{pv}:zip",
            needs=("opensearch-job-scheduler",),
        ),
        PluginSpec(
            "opensearch-neural-search",
            f"org.opensearch.plugin:neural-search:{pv}:zip",
            needs=("opensearch-knn", "opensearch-ml"),
        ),
    ]


REQUIRED_PLUGINS = ("opensearch-job-scheduler", "opensearch-knn", "opensearch-ml", "opensearch-neural-search")
"""Names of the plugins a complete mros node has."""
