"""docker/compose.yaml runs the same OpenSearch version that `mros opensearch up` assembles."""

from __future__ import annotations

from pathlib import Path

import yaml

from mr_opensearch.cluster.node.versions import OPENSEARCH_VERSION

ROOT = Path(__file__).resolve().parents[2]


def test_compose_image_matches_the_pinned_version():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    image = compose["services"]["opensearch"]["image"]
    assert image == f"opensearchproject/opensearch:{OPENSEARCH_VERSION}"
    env = compose["services"]["opensearch"]["environment"]
    assert env["DISABLE_SECURITY_PLUGIN"] == "true" and env["discovery.type"] == "single-node"
    assert f":{OPENSEARCH_VERSION}" in (ROOT / "docker" / "compose.yaml").read_text().split("image:")[1].splitlines()[0]
