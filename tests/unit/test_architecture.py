"""The layers of docs/architecture.md, checked on the source: every import of every module of
``mr_opensearch`` and ``trainer`` (module-level, function-local and ``TYPE_CHECKING`` ones alike) is
read with :mod:`ast` and mapped to the project module it names. The rules are stated in packages,
with no list of allowed modules:

* the serving packages are layered, each importing only itself and the ones below it:
  ``mr_opensearch.core`` < ``mr_opensearch.cluster`` < ``mr_opensearch.search`` < ``mr_opensearch.deploy``
  < ``mr_opensearch.service``
  (:data:`SERVING_LAYERS`); the core uses only the standard library and :data:`CORE_THIRD_PARTY`;
* the public API (the modules directly in ``mr_opensearch``) may use every serving package;
* training (``trainer``) uses only the core and cluster access of the serving side;
* nothing below the top imports ``trainer`` or the top layer; the top (``mr_opensearch.cli``,
  ``mr_opensearch.job``) is the only place that joins both sides;
* at most :data:`MAX_TOP_MODULES` modules sit directly in ``mr_opensearch``;
* no import cycle among project modules, function-local imports included.

A failure lists every violation with its file and line.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mr_opensearch", "trainer")

SERVING_LAYERS = ("mr_opensearch.core", "mr_opensearch.cluster", "mr_opensearch.search", "mr_opensearch.deploy",
                  "mr_opensearch.service")
"""The serving packages, lowest first: each imports only itself and the packages before it."""
CORE_THIRD_PARTY = frozenset({"numpy", "onnxruntime", "openvino", "tokenizers", "pydantic", "yaml"})
TOP_PACKAGES = ("mr_opensearch.cli", "mr_opensearch.job", "mr_opensearch.__main__")
TRAINING_MAY_USE = ("mr_opensearch.core", "mr_opensearch.cluster")
"""The serving packages training uses: the shared core and cluster access (Stage 2 mining on a live cluster)."""
MAX_TOP_MODULES = 12


@dataclass(frozen=True)
class Import:
    source: str
    target: str  # a project module, or the top-level name of an outside package
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.source} -> {self.target}"


def project_modules() -> dict[str, tuple[Path, bool]]:
    """module name -> (file, is a package ``__init__``)."""
    found: dict[str, tuple[Path, bool]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _resolve(name: str, modules: dict) -> str | None:
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def all_imports(modules: dict[str, tuple[Path, bool]]) -> list[Import]:
    found: dict[tuple[str, str, int], Import] = {}
    for module, (path, is_package) in modules.items():
        package = module if is_package else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                # ``from a import b`` imports the module a.b when there is one, else names of a
                names = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules else stem for alias in node.names]
            for name in names:
                target = _resolve(name, modules) or name.split(".")[0]
                if target != module:
                    found.setdefault((module, target, node.lineno), Import(module, target, path, node.lineno))
    return list(found.values())


MODULES = project_modules()
IMPORTS = all_imports(MODULES)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer(module: str) -> str:
    """``core``, ``cluster``, ``search``, ``deploy``, ``api`` (the modules directly in the package and
    the package itself), ``training`` or ``top``."""
    if module.startswith(TOP_PACKAGES):
        return "top"
    if _within(module, "trainer"):
        return "training"
    for package in SERVING_LAYERS:
        if _within(module, package):
            return package.rpartition(".")[2]
    return "api"


RANK = {package.rpartition(".")[2]: rank for rank, package in enumerate(SERVING_LAYERS)} | {"api": len(SERVING_LAYERS)}


def forbidden(imp: Import) -> str | None:
    """Why ``imp`` breaks the layering, or None."""
    source = layer(imp.source)
    if imp.target not in MODULES:
        if source == "core" and imp.target not in sys.stdlib_module_names \
                and imp.target not in CORE_THIRD_PARTY and imp.target != "__future__":
            return f"the core may use only the standard library and {sorted(CORE_THIRD_PARTY)}"
        return None
    target = layer(imp.target)
    if imp.target == "mr_opensearch":
        return None  # the package itself (``__version__``) is below everything
    if source == "top":
        return None
    if target == "top":
        return f"only the top layer imports the top layer ({imp.target})"
    if source == "training":
        if target == "training" or any(_within(imp.target, p) for p in TRAINING_MAY_USE):
            return None
        return f"the training side uses only {list(TRAINING_MAY_USE)} of the serving side"
    if target == "training":
        return f"the serving side ({source}) must not import the training side"
    if RANK[target] > RANK[source]:
        return f"{source} must not import {target}, a layer above it"
    return None


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected components (more than one module) of the project import graph (Tarjan)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in imports:
        if imp.target in MODULES:
            graph[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def test_the_scan_sees_function_local_imports():
    """The checker itself: a function-local import is an edge (the point of the check)."""
    local = [i for i in IMPORTS if i.source == "mr_opensearch.cli.train" and i.target.startswith("trainer.")]
    assert local, "mr_opensearch.cli.train imports trainer inside its command functions"
    assert len(MODULES) > 80


def test_no_import_crosses_the_layers():
    violations = [f"{imp}  ({why})" for imp in IMPORTS if (why := forbidden(imp))]
    assert not violations, "imports that break docs/architecture.md:\n" + "\n".join(violations)


def test_no_import_cycle():
    cycles = import_cycles(IMPORTS)
    lines = []
    for component in cycles:
        lines.append("cycle among " + ", ".join(component) + ":")
        lines += [f"    {imp}" for imp in IMPORTS if imp.source in component and imp.target in component]
    assert not cycles, "import cycles (function-local imports count):\n" + "\n".join(lines)


@pytest.mark.parametrize("imp", [
    Import("mr_opensearch.search.queries", "trainer.run", ROOT / "mr_opensearch" / "search" / "queries.py", 1),
    Import("trainer.run", "mr_opensearch.cli.train", ROOT / "trainer" / "run.py", 1),
    Import("trainer.run", "mr_opensearch.deploy.deploy", ROOT / "trainer" / "run.py", 1),
    Import("trainer.run", "mr_opensearch.search.fusion", ROOT / "trainer" / "run.py", 1),
    Import("mr_opensearch.core.errors", "mr_opensearch.cluster.connection", ROOT / "mr_opensearch" / "core" / "errors.py", 1),
    Import("mr_opensearch.core.metrics", "pandas", ROOT / "mr_opensearch" / "core" / "metrics.py", 1),
    Import("mr_opensearch.cluster.connection", "mr_opensearch.search.manifest", ROOT / "mr_opensearch" / "cluster" / "connection.py", 1),
    Import("mr_opensearch.search.queries", "mr_opensearch.deploy.deploy", ROOT / "mr_opensearch" / "search" / "queries.py", 1),
    Import("mr_opensearch.deploy.deploy", "mr_opensearch.cli.deploy", ROOT / "mr_opensearch" / "deploy" / "deploy.py", 1),
])
def test_the_rules_reject_what_they_forbid(imp):
    assert forbidden(imp)


@pytest.mark.parametrize("imp", [
    Import("mr_opensearch.deploy.deploy", "mr_opensearch.search.manifest", ROOT / "mr_opensearch" / "deploy" / "deploy.py", 1),
    Import("trainer.mining", "mr_opensearch.cluster.vector_index", ROOT / "trainer" / "mining.py", 1),
    Import("mr_opensearch.cli.train", "trainer.run", ROOT / "mr_opensearch" / "cli" / "train.py", 1),
])
def test_the_rules_allow_what_the_layers_permit(imp):
    assert forbidden(imp) is None


def test_the_package_top_holds_a_handful_of_modules():
    top = sorted(p.name for p in (ROOT / "mr_opensearch").glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top
    unplaced = sorted(m for m in MODULES if m.startswith("mr_opensearch.") and layer(m) == "api"
                      and m.count(".") > 1)
    assert not unplaced, f"modules in a subpackage that is no layer: {unplaced}"


def test_cycles_are_found():
    a, b = "trainer.run", "trainer.config"
    made_up = [Import(a, b, ROOT / "trainer" / "run.py", 1), Import(b, a, ROOT / "trainer" / "config.py", 1)]
    assert [a, b][::-1] in import_cycles(made_up) or sorted([a, b]) in import_cycles(made_up)


def test_reading_a_config_loads_no_training_code():
    """Config models live in config modules: reading the defaults of ``mros train``, ``mros label train``
    and ``mros run`` imports neither pandas/torch nor a stage, data or model module."""
    probe = ("import sys; import mr_opensearch.job.config as c; c.load_run_config(None); "
             "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'torch', 'trainer'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    loaded = set(done.stdout.split())
    assert loaded <= {"trainer", "trainer.config", "trainer.grades", "trainer.strict", "trainer.labeler",
                      "trainer.labeler.config", "trainer.labeler.prompt"}, sorted(loaded)


def test_the_architecture_doc_names_every_module():
    """Every module but a package's ``__init__`` has its row in docs/architecture.md."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    files = [path.relative_to(ROOT) for path, is_package in MODULES.values() if not is_package]
    missing = sorted(str(f) for f in files if f"`{f}`" not in doc)
    assert not missing, "docs/architecture.md does not name: " + ", ".join(missing)
