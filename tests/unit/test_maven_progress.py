"""`mros opensearch up` downloads: one progress line per artifact; Maven's transfer lines go to the
download folder's maven.log. ``mvn`` here is a stand-in script (MROS_MVN) printing what Maven prints
in batch mode, so no network is needed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mr_opensearch.cluster.node import maven
from mr_opensearch.core.errors import MrosError

FAKE_MVN = """#!/bin/sh
out=""
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}";; esac
done
echo "[INFO] Scanning for projects..."
echo "[INFO] Downloading from central: https://repo.maven.apache.org/maven2/org/example/demo/1.0/demo-1.0.pom"
echo "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/example/demo/1.0/demo-1.0.pom (2 kB at 10 kB/s)"
echo "[INFO] Downloading from central: https://repo.maven.apache.org/maven2/org/example/demo/1.0/demo-1.0.zip"
if [ "$FAIL" = 1 ]; then
  echo "[ERROR] Could not find artifact org.example:demo:zip:1.0 in central (https://repo.maven.apache.org/maven2)"
  exit 1
fi
echo "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/example/demo/1.0/demo-1.0.zip (1 MB at 9 MB/s)"
head -c 1500000 /dev/zero > "$out/demo-1.0.zip"
echo "[INFO] BUILD SUCCESS"
"""


@pytest.fixture
def fake_mvn(tmp_path, monkeypatch) -> Path:
    script = tmp_path / "mvn"
    script.write_text(FAKE_MVN)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("MROS_MVN", str(script))
    return script


def test_one_line_per_artifact_and_the_details_in_maven_log(tmp_path, fake_mvn):
    lines: list[str] = []
    dest = tmp_path / "downloads"
    path = maven.fetch("org.example:demo:1.0:zip", dest, report=lines.append)
    assert path == dest / "demo-1.0.zip" and path.stat().st_size == 1_500_000
    assert lines == [f"downloading org.example:demo:1.0:zip from Maven (details: {dest / 'maven.log'})",
                     "downloaded demo-1.0.zip (1.5 MB)"]
    logged = (dest / "maven.log").read_text()
    assert "--- mvn dependency:copy org.example:demo:1.0:zip" in logged
    assert logged.count("Downloading from central") == 2 and "BUILD SUCCESS" in logged
    # already there: nothing fetched, nothing reported
    again: list[str] = []
    assert maven.fetch("org.example:demo:1.0:zip", dest, report=again.append) == path and again == []


def test_a_failed_download_names_the_artifact_and_the_log(tmp_path, fake_mvn, monkeypatch):
    monkeypatch.setenv("FAIL", "1")
    dest = tmp_path / "downloads"
    with pytest.raises(MrosError) as err:
        maven.fetch("org.example:demo:1.0:zip", dest, report=lambda line: None)
    assert "Could not find artifact org.example:demo:zip:1.0" in err.value.message
    assert str(dest / "maven.log") in (err.value.hint or "")
    assert "[ERROR] Could not find artifact" in (dest / "maven.log").read_text()
