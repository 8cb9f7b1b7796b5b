"""Resolving artifacts from Maven Central with ``mvn`` (``dependency:copy``).

``mvn`` is used rather than raw HTTP so the user's ``~/.m2/settings.xml`` (mirrors, proxies) and
local repository apply. Files are copied into a download folder under the mros cache; a file that
is already there is not fetched again. Progress: one line per artifact to the reporter (``downloading
...`` / ``downloaded ...``); Maven's own output (every transfer of every file) goes to
``maven.log`` in the download folder (:func:`maven_log`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from mr_opensearch.core.errors import MrosError

Reporter = Callable[[str], None]


def find_mvn() -> str:
    """Path of the ``mvn`` executable (``MROS_MVN`` overrides); MrosError when there is none."""
    mvn = os.environ.get("MROS_MVN") or shutil.which("mvn")
    if not mvn:
        raise MrosError(
            "Maven (mvn) was not found on PATH; it is needed to fetch OpenSearch from Maven Central.",
            hint="install it (Debian: apt-get install maven) or point MROS_MVN at the mvn executable",
        )
    return mvn


def file_name(coordinates: str) -> str:
    """The file name ``dependency:copy`` gives ``group:artifact:version[:type[:classifier]]``."""
    parts = coordinates.split(":")
    if len(parts) < 3:
        raise MrosError(
            f"Not Maven coordinates: {coordinates!r}", hint="use group:artifact:version[:type[:classifier]]"
        )
    _, artifact, version = parts[:3]
    kind = parts[3] if len(parts) > 3 else "jar"
    classifier = f"-{parts[4]}" if len(parts) > 4 and parts[4] else ""
    return f"{artifact}-{version}{classifier}.{kind}"


def fetch(
    coordinates: str,
    dest_dir: Path,
    *,
    report: Reporter | None = None,
    java_home: Path | None = None,
) -> Path:
    """Download one artifact (no transitive dependencies) into ``dest_dir`` and return its path.

    Raises:
        MrosError: naming the coordinates when Maven cannot resolve them.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / file_name(coordinates)
    if target.is_file() and target.stat().st_size > 0:
        return target
    mvn = find_mvn()
    env = dict(os.environ)
    if java_home is not None and not env.get("JAVA_HOME"):
        env["JAVA_HOME"] = str(java_home)
    # A scratch working directory: mvn must not pick up a pom.xml from wherever the user stands.
    with tempfile.TemporaryDirectory(prefix="mros-mvn-") as scratch:
        cmd = [
            mvn,
            "-B",
            "-U",
            "dependency:copy",
            f"-Dartifact={coordinates}",
            f"-DoutputDirectory={dest_dir}",
            "-Dmdep.overWriteReleases=false",
        ]
        if report is None:
            cmd.insert(2, "--no-transfer-progress")
        proc = subprocess.Popen(
            cmd, cwd=scratch, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        if report is not None:
            report(f"downloading {coordinates} from Maven (details: {maven_log(dest_dir)})")
        lines = _log_output(proc, maven_log(dest_dir), coordinates)
        rc = proc.wait()
    if rc != 0 or not target.is_file():
        found = [
            re.search(r"(Could not find artifact \S+ in \S+|Could not transfer artifact .*)", ln)
            for ln in lines
        ]
        reasons = [m.group(1) for m in found if m]
        errors = [ln.replace("[ERROR]", "").strip() for ln in lines if "[ERROR]" in ln][:2]
        detail = (reasons[0] if reasons else " ".join(errors))[:400]
        raise MrosError(
            f"Could not download {coordinates} from Maven: {detail or 'mvn exited with ' + str(rc)}",
            hint="check network access to Maven Central (or your ~/.m2/settings.xml mirror); "
            f"a plugin zip obtained elsewhere can be given with --plugin-zip; Maven's output: {maven_log(dest_dir)}",
        )
    if report is not None:
        report(f"downloaded {target.name} ({target.stat().st_size / 1e6:.1f} MB)")
    return target


def maven_log(dest_dir: Path) -> Path:
    """Where Maven's full output of the downloads into ``dest_dir`` is appended."""
    return dest_dir / "maven.log"


def _log_output(proc: subprocess.Popen, log_path: Path, coordinates: str) -> list[str]:
    """Append the process's output lines to ``log_path`` (under a header naming the artifact) and return them."""
    lines: list[str] = []
    assert proc.stdout is not None
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"--- mvn dependency:copy {coordinates}\n")
        for line in proc.stdout:
            lines.append(line.rstrip())
            log.write(line)
    return lines
