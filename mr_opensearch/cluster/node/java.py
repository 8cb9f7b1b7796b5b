"""Finding a JDK that can run OpenSearch 3.x (Java 21 or newer).

Looked for, in order: ``MROS_JAVA_HOME``, ``OPENSEARCH_JAVA_HOME``, ``JAVA_HOME``, the JDKs under
``/usr/lib/jvm`` (newest first) and the ``java`` on ``PATH``. The first one that is 21+ wins.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mr_opensearch.cluster.node.versions import MIN_JAVA
from mr_opensearch.core.errors import MrosError

ENV_VARS = ("MROS_JAVA_HOME", "OPENSEARCH_JAVA_HOME", "JAVA_HOME")
JVM_DIRS = (Path("/usr/lib/jvm"), Path("/usr/java"), Path("/opt/java"))


@dataclass(frozen=True)
class Jdk:
    home: Path
    major: int
    source: str

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"


def _major_from_release(home: Path) -> int | None:
    release = home / "release"
    if not release.is_file():
        return None
    match = re.search(r'^JAVA_VERSION="([^"]+)"', release.read_text(errors="replace"), re.M)
    return _parse_major(match.group(1)) if match else None


def _parse_major(version: str) -> int | None:
    parts = version.split(".")
    try:
        major = int(parts[0])
        return int(parts[1]) if major == 1 and len(parts) > 1 else major
    except ValueError:
        return None


def java_major(home: Path) -> int | None:
    """The major version of the JDK at ``home``, or None when it is not a usable JDK."""
    java = home / "bin" / "java"
    if not java.is_file():
        return None
    major = _major_from_release(home)
    if major is not None:
        return major
    try:
        out = subprocess.run(
            [str(java), "-XshowSettings:properties", "-version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"java\.specification\.version = (\S+)", out.stderr + out.stdout)
    return _parse_major(match.group(1)) if match else None


def _candidates() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for var in ENV_VARS:
        if os.environ.get(var):
            found.append((Path(os.environ[var]).expanduser(), f"${var}"))
    for root in JVM_DIRS:
        if root.is_dir():
            homes = sorted((p for p in root.iterdir() if p.is_dir() and not p.is_symlink()), reverse=True)
            found.extend((home, str(root)) for home in homes)
    java = shutil.which("java")
    if java:
        found.append((Path(java).resolve().parent.parent, "java on PATH"))
    return found


def find_jdk(minimum: int = MIN_JAVA) -> Jdk:
    """The first JDK of version ``minimum`` or newer; MrosError naming what was seen otherwise."""
    seen: list[str] = []
    for home, source in _candidates():
        major = java_major(home)
        if major is None:
            continue
        if major >= minimum:
            return Jdk(home=home, major=major, source=source)
        seen.append(f"{home} (Java {major}, from {source})")
    listing = "; ".join(dict.fromkeys(seen)) or "none"
    raise MrosError(
        f"No JDK {minimum}+ found (OpenSearch 3.x needs Java {minimum} or newer). Seen: {listing}.",
        hint=f"install a JDK {minimum}+ (Debian: apt-get install openjdk-{minimum}-jdk-headless, or Temurin) "
        "and set MROS_JAVA_HOME (or JAVA_HOME) to its home, e.g. MROS_JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64",
    )
