"""Building, once, an OpenSearch home in the mros cache from Maven artifacts.

Layout (``$MROS_CACHE_DIR``, default ``~/.cache/mros``)::

    downloads/                      the zips and jars as Maven delivered them (kept for re-assembly)
    plugin-zips/                    optional: plugin zips obtained elsewhere, installed by name
    opensearch-<version>/           the OpenSearch home (read-only once assembled)
    opensearch-<version>-without-<plugins>/   the same home less some plugins (hard links; tests of
                                    how mros meets a cluster that lacks them, see without_plugins)
        mros-assembly.json          what was installed, what could not be, and the node environment
        mros-djl/                   DJL engine cache (libtorch, JNI) for offline local models
    nodes/<port>/                   one running node: config/, data/, logs/, node.json (see state.py)

The home is assembled under ``opensearch-<version>.partial`` and renamed when complete, so an
interrupted ``up`` never leaves a half-built home behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from mr_opensearch.cluster.node import djl, maven
from mr_opensearch.cluster.node.java import Jdk
from mr_opensearch.cluster.node.maven import Reporter
from mr_opensearch.cluster.node.versions import OPENSEARCH_VERSION, distribution_coordinates, plugin_specs
from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.paths import cache_dir
from mr_opensearch.core.safe_write import write_text

MANIFEST = "mros-assembly.json"


@dataclass
class Assembly:
    """What ``mros-assembly.json`` records about an assembled home."""

    version: str
    home: str
    installed: dict[str, str] = field(default_factory=dict)  # plugin name -> where its zip came from
    missing: dict[str, str] = field(default_factory=dict)  # plugin name -> why it is not installed
    node_env: dict[str, str] = field(default_factory=dict)  # extra environment for the node process
    seconds: float = 0.0
    size_bytes: int = 0

    @property
    def home_path(self) -> Path:
        return Path(self.home)


def home_dir(version: str = OPENSEARCH_VERSION) -> Path:
    return cache_dir() / f"opensearch-{version}"


def downloads_dir() -> Path:
    return cache_dir() / "downloads"


def local_zips_dir() -> Path:
    return cache_dir() / "plugin-zips"


def local_zips_dirs() -> list[Path]:
    """Folders searched for plugin zips obtained elsewhere: ``$MROS_CACHE_DIR/plugin-zips``, the
    folders in ``$MROS_PLUGIN_ZIPS`` (``os.pathsep``-separated), and ``shared/opensearch-plugins``
    beside the checkout (where a team can drop the zips Maven does not serve)."""
    from mr_opensearch.core.paths import project_root

    extra = [Path(p).expanduser() for p in os.environ.get("MROS_PLUGIN_ZIPS", "").split(os.pathsep) if p]
    return [local_zips_dir(), *extra, project_root().parent / "shared" / "opensearch-plugins"]


def load(version: str = OPENSEARCH_VERSION) -> Assembly | None:
    """The manifest of an assembled home, or None when there is none yet."""
    path = home_dir(version) / MANIFEST
    if not path.is_file():
        return None
    return Assembly(**json.loads(path.read_text()))


def _save(assembly: Assembly, home: Path) -> None:
    write_text(home / MANIFEST, json.dumps(asdict(assembly), indent=2, sort_keys=True) + "\n")


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _descriptor(zip_path: Path) -> dict[str, str]:
    """The key=value pairs of a plugin zip's ``plugin-descriptor.properties``."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            descriptor = next(n for n in zf.namelist() if n.endswith("plugin-descriptor.properties"))
            text = zf.read(descriptor).decode("utf-8", errors="replace")
    except (zipfile.BadZipFile, StopIteration, OSError) as exc:
        raise MrosError(
            f"{zip_path} is not an OpenSearch plugin zip ({exc or 'no plugin-descriptor.properties'})"
        ) from None
    pairs = (
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.lstrip().startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def plugin_name_of_zip(zip_path: Path) -> str:
    """The ``name=`` from a plugin zip's ``plugin-descriptor.properties``."""
    name = _descriptor(zip_path).get("name")
    if not name:
        raise MrosError(f"{zip_path}: plugin-descriptor.properties has no name=")
    return name


def _local_zips(extra: list[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    candidates = [z for folder in local_zips_dirs() if folder.is_dir() for z in sorted(folder.glob("*.zip"))]
    for zip_path in [*candidates, *extra]:
        if not zip_path.is_file():
            raise MrosError(f"Plugin zip not found: {zip_path}")
        found[plugin_name_of_zip(zip_path)] = zip_path
    return found


def _java_env(jdk: Jdk) -> dict[str, str]:
    env = dict(os.environ)
    env["JAVA_HOME"] = str(jdk.home)
    env["OPENSEARCH_JAVA_HOME"] = str(jdk.home)
    return env


def install_plugin(home: Path, zip_path: Path, jdk: Jdk, name: str) -> None:
    """``bin/opensearch-plugin install --batch``; unzip into ``plugins/<name>`` if the tool fails."""
    proc = subprocess.run(
        [str(home / "bin" / "opensearch-plugin"), "install", "--batch", zip_path.resolve().as_uri()],
        cwd=home,
        env=_java_env(jdk),
        capture_output=True,
        text=True,
    )
    if proc.returncode == 0:
        return
    output = (proc.stdout + proc.stderr).strip().splitlines()
    causes = [line.strip() for line in output if "Exception:" in line or line.startswith("ERROR")]
    tail = " | ".join(causes[:2] or output[-3:])
    wanted = _descriptor(zip_path).get("opensearch.version")
    version = home.name.rsplit("-", 1)[-1].removesuffix(".partial")
    if wanted and wanted != version:
        raise MrosError(
            f"Plugin zip {zip_path} is built for OpenSearch {wanted}, this node is {version}: {tail}",
            hint=f"use the {name} zip of version {version}.0",
        )
    target = home / "plugins" / name
    shutil.rmtree(target, ignore_errors=True)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(target)
    except (zipfile.BadZipFile, OSError) as exc:
        raise MrosError(
            f"Installing plugin {name} from {zip_path} failed: {tail}; unzip fallback: {exc}"
        ) from None


def _extract_distribution(zip_path: Path, work: Path, version: str) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            extracted = Path(zf.extract(info, work))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                extracted.chmod(mode)
    home = work / f"opensearch-{version}"
    if not (home / "bin" / "opensearch").is_file():
        raise MrosError(f"{zip_path} does not hold an OpenSearch distribution (no bin/opensearch)")
    return home


def _install_plugins(
    home: Path,
    assembly: Assembly,
    jdk: Jdk,
    zips: dict[str, Path],
    retry_maven: bool,
    report: Reporter | None,
) -> None:
    plugins_dir = home / "plugins"
    for spec in plugin_specs(assembly.version):
        if (plugins_dir / spec.name).is_dir():
            continue
        if spec.name in assembly.missing and spec.name not in zips and not retry_maven:
            continue
        absent = [dep for dep in spec.needs if not (plugins_dir / dep).is_dir()]
        if absent:
            assembly.missing[spec.name] = f"needs {', '.join(absent)}, which is not installed"
            continue
        source: Path | None = zips.get(spec.name)
        origin = str(source) if source else spec.coordinates
        if source is None:
            try:
                source = maven.fetch(spec.coordinates, downloads_dir(), report=report, java_home=jdk.home)
            except MrosError as exc:
                assembly.missing[spec.name] = f"{spec.coordinates} did not resolve: {exc.message}"
                if report:
                    report(f"warning: {spec.name} not available from Maven ({spec.coordinates})")
                continue
        if report:
            report(f"Installing plugin {spec.name}")
        install_plugin(home, source, jdk, spec.name)
        assembly.installed[spec.name] = origin
        assembly.missing.pop(spec.name, None)


def assemble(
    jdk: Jdk,
    *,
    version: str = OPENSEARCH_VERSION,
    plugin_zips: list[Path] | None = None,
    retry_maven: bool = False,
    report: Reporter | None = None,
) -> Assembly:
    """Return the assembled home for ``version``, building or completing it when needed.

    A complete home is reused as it is. Plugins missing from an existing home are installed when a
    zip for them is given (``plugin_zips`` or ``$MROS_CACHE_DIR/plugin-zips``) or, with
    ``retry_maven``, when Maven now serves them.
    """
    zips = _local_zips(list(plugin_zips or []))
    existing = load(version)
    started = time.monotonic()
    if existing is not None:
        if not existing.missing or not (zips.keys() & existing.missing.keys() or retry_maven):
            return existing
        home = existing.home_path
        _install_plugins(home, existing, jdk, zips, retry_maven, report)
        existing.node_env = djl.provision(home, report=report, java_home=jdk.home)
        existing.size_bytes = dir_size(home)
        _save(existing, home)
        return existing

    final = home_dir(version)
    work = cache_dir() / f"opensearch-{version}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if report:
        report(f"Assembling OpenSearch {version} into {final} (once)")
    dist = maven.fetch(distribution_coordinates(version), downloads_dir(), report=report, java_home=jdk.home)
    home = _extract_distribution(dist, work, version)
    assembly = Assembly(version=version, home=str(final))
    _install_plugins(home, assembly, jdk, zips, True, report)
    assembly.node_env = djl.provision(home, final_home=final, report=report, java_home=jdk.home)
    assembly.seconds = round(time.monotonic() - started, 1)
    assembly.size_bytes = dir_size(home)
    _save(assembly, home)
    shutil.rmtree(final, ignore_errors=True)
    home.rename(final)
    shutil.rmtree(work, ignore_errors=True)
    return assembly


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def without_plugins(built: Assembly, names: Collection[str]) -> Assembly:
    """The assembled home ``built`` less the plugins ``names``: ``opensearch-<version>-without-<names>``
    beside it, made once of hard links to the home's files (no extra disk, a second or two), so a node
    can be started that lacks, say, k-NN. Unknown names are ignored."""
    drop = sorted(set(names))
    if not drop:
        return built
    source = built.home_path
    final = source.parent / f"{source.name}-without-{'-'.join(drop)}"
    variant = replace(built, home=str(final), installed={k: v for k, v in built.installed.items() if k not in drop},
                      missing={**built.missing, **{name: "left out on purpose (without_plugins)" for name in drop}})
    if (final / MANIFEST).is_file():
        return variant
    work = final.with_name(final.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    skip = {source / "plugins" / name for name in drop}
    shutil.copytree(source, work, symlinks=True, copy_function=_link_or_copy,
                    ignore=lambda folder, entries: [e for e in entries if Path(folder) / e in skip or e == MANIFEST])
    _save(variant, work)
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    return variant
