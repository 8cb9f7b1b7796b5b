"""Everything ML Commons' DJL needs to run a local model with no network, fetched from Maven.

ML Commons runs local models with DJL. Even for an ONNX text-embedding model DJL loads its PyTorch
engine (the ONNX Runtime engine hands the NDArray work it lacks, such as pooling, to PyTorch), and
DJL's PyTorch engine downloads ``libtorch`` and its JNI glue (``libdjl_torch.so``) from the
internet on first use. Here that would fail, so ``up`` installs both from Maven Central:

- ``ai.djl.pytorch:pytorch-native-cpu:<torch>:jar:linux-x86_64`` holds ``libtorch*.so``; it is
  unpacked into ``<home>/mros-djl/libtorch-<torch>-cpu`` and the node gets
  ``PYTORCH_LIBRARY_PATH`` pointing there (DJL's ``LibUtils.findOverrideLibrary`` reads it before
  anything else) with ``PYTORCH_VERSION`` and ``PYTORCH_FLAVOR=cpu``.
- ``ai.djl.pytorch:pytorch-jni:<torch>-<djl>`` holds ``jnilib/linux-x86_64/cpu/libdjl_torch.so``;
  DJL looks for it in its engine cache as
  ``<ENGINE_CACHE_DIR>/pytorch/<torch>-cpu-linux-x86_64/<djl>-libdjl_torch.so`` before trying to
  download, so it is put there and the node gets ``ENGINE_CACHE_DIR`` (the environment variable
  wins over the ``DJL_CACHE_DIR`` system property ML Commons sets).

The DJL version is read from the ``pytorch-engine-<djl>.jar`` inside the installed ML Commons
plugin and the PyTorch version from what ML Commons asks for (``PYTORCH_VERSION`` 2.5.1 in 3.x).
The HuggingFace tokenizers and ONNX Runtime native libraries ship inside their jars in the plugin.
When the ML Commons plugin is not installed nothing is done.
"""

from __future__ import annotations

import platform
import re
import shutil
import zipfile
from pathlib import Path

from mr_opensearch.cluster.node import maven
from mr_opensearch.cluster.node.maven import Reporter
from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.paths import cache_dir

ML_PLUGIN_DIR = "opensearch-ml"
PYTORCH_VERSION = "2.5.1"
"""The libtorch ML Commons 3.x pins (``System.setProperty("PYTORCH_VERSION", "2.5.1")`` in DLModel)."""
FALLBACK_JNI_DJL = ("0.33.0", "0.32.0")
"""Other DJL builds of the JNI glue for the same libtorch, tried when the exact one is not served."""


def _classifier() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(
        machine, machine
    )
    return f"linux-{arch}"


def djl_version(ml_plugin: Path) -> str | None:
    """The DJL version bundled in the ML Commons plugin folder, from its pytorch-engine jar."""
    for jar in ml_plugin.glob("pytorch-engine-*.jar"):
        match = re.match(r"pytorch-engine-(\d+\.\d+\.\d+)\.jar$", jar.name)
        if match:
            return match.group(1)
    return None


def _extract(jar: Path, prefix: str, dest: Path, rename: dict[str, str] | None = None) -> int:
    count = 0
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(jar) as zf:
        for name in zf.namelist():
            if name.startswith(prefix) and not name.endswith("/"):
                base = name.rsplit("/", 1)[-1]
                target = dest / (rename or {}).get(base, base)
                with zf.open(name) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                count += 1
    return count


def provision(
    home: Path,
    *,
    final_home: Path | None = None,
    report: Reporter | None = None,
    java_home: Path | None = None,
) -> dict[str, str]:
    """Install libtorch + JNI for the ML plugin in ``home``; return the node environment to set.

    ``final_home`` is where ``home`` will live once assembled (paths in the environment use it).
    """
    ml_plugin = home / "plugins" / ML_PLUGIN_DIR
    if not ml_plugin.is_dir():
        return {}
    djl = djl_version(ml_plugin)
    if djl is None:
        raise MrosError(f"No pytorch-engine-<version>.jar in {ml_plugin}; cannot tell which DJL it bundles")
    classifier = _classifier()
    root = home / "mros-djl"
    final_root = (final_home or home) / "mros-djl"
    libtorch = root / f"libtorch-{PYTORCH_VERSION}-cpu"
    downloads = cache_dir() / "downloads"
    if not (libtorch / "libtorch.so").is_file():
        if report:
            report(f"Fetching libtorch {PYTORCH_VERSION} (CPU) for DJL {djl}")
        jar = maven.fetch(
            f"ai.djl.pytorch:pytorch-native-cpu:{PYTORCH_VERSION}:jar:{classifier}",
            downloads,
            report=report,
            java_home=java_home,
        )
        if _extract(jar, f"pytorch/cpu/{classifier}/", libtorch) == 0:
            raise MrosError(f"{jar} holds no pytorch/cpu/{classifier}/ libraries")
    jni_dir = root / "pytorch" / f"{PYTORCH_VERSION}-cpu-{classifier}"
    jni_target = jni_dir / f"{djl}-libdjl_torch.so"
    if not jni_target.is_file():
        last_error: MrosError | None = None
        for build in (djl, *[v for v in FALLBACK_JNI_DJL if v != djl]):
            try:
                jar = maven.fetch(
                    f"ai.djl.pytorch:pytorch-jni:{PYTORCH_VERSION}-{build}",
                    downloads,
                    report=report,
                    java_home=java_home,
                )
            except MrosError as exc:
                last_error = exc
                continue
            if build != djl and report:
                report(
                    f"warning: using the DJL {build} build of libdjl_torch.so for DJL {djl} (exact one not served)"
                )
            _extract(jar, f"jnilib/{classifier}/cpu/", jni_dir, rename={"libdjl_torch.so": jni_target.name})
            break
        if not jni_target.is_file():
            raise MrosError(
                f"Could not get DJL's PyTorch JNI library for DJL {djl} / PyTorch {PYTORCH_VERSION}",
                hint=str(last_error) if last_error else None,
            )
    return {
        "PYTORCH_LIBRARY_PATH": str(final_root / libtorch.name),
        "PYTORCH_VERSION": PYTORCH_VERSION,
        "PYTORCH_FLAVOR": "cpu",
        "ENGINE_CACHE_DIR": str(final_root),
        "DJL_OFFLINE": "true",
    }
