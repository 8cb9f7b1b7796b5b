"""``assembly.without_plugins``: the home of a node that must lack some plugins (the bad-input matrix's node
without k-NN) is the assembled home less those plugins, made of hard links, once."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mr_opensearch.cluster.node import assembly
from mr_opensearch.cluster.node.assembly import MANIFEST, Assembly


def _home(root: Path) -> Assembly:
    home = root / "opensearch-3.5.0"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "opensearch").write_text("#!/bin/sh\n")
    (home / "bin" / "opensearch").chmod(0o755)
    for plugin in ("opensearch-knn", "opensearch-other"):
        (home / "plugins" / plugin).mkdir(parents=True)
        (home / "plugins" / plugin / "plugin.jar").write_bytes(b"jar")
    (home / "lib").mkdir()
    (home / "lib" / "server.jar").write_bytes(b"server")
    built = Assembly(version="3.5.0", home=str(home), installed={"opensearch-knn": "maven", "opensearch-other": "zip"})
    (home / MANIFEST).write_text(json.dumps({"version": "3.5.0"}))
    return built


def test_the_variant_lacks_the_plugins_and_shares_every_other_file(tmp_path):
    built = _home(tmp_path)
    variant = assembly.without_plugins(built, ["opensearch-knn"])
    home = variant.home_path
    assert home == tmp_path / "opensearch-3.5.0-without-opensearch-knn"
    assert sorted(p.name for p in (home / "plugins").iterdir()) == ["opensearch-other"]
    assert os.path.samefile(home / "lib" / "server.jar", built.home_path / "lib" / "server.jar")
    assert os.access(home / "bin" / "opensearch", os.X_OK)
    assert variant.installed == {"opensearch-other": "zip"} and "opensearch-knn" in variant.missing
    recorded = json.loads((home / MANIFEST).read_text())
    assert recorded["home"] == str(home) and "opensearch-knn" not in recorded["installed"]
    assert (built.home_path / "plugins" / "opensearch-knn").is_dir()  # the original home is untouched
    assert not home.with_name(home.name + ".partial").exists()


def test_the_variant_is_made_once_and_nothing_to_drop_is_the_home_itself(tmp_path):
    built = _home(tmp_path)
    first = assembly.without_plugins(built, ["opensearch-knn"])
    marker = first.home_path / "made-once"
    marker.write_text("x")
    again = assembly.without_plugins(built, ("opensearch-knn",))
    assert again.home_path == first.home_path and marker.exists()
    assert assembly.without_plugins(built, ()) is built
