"""The layers of docs/architecture.md, checked on the source: every import of every module of
``mr_opensearch`` and ``trainer`` (module-level, function-local and ``TYPE_CHECKING`` ones alike) is
read with :mod:`ast` and mapped to the project module it names.

* core (:data:`CORE`): imports only the core, the standard library and :data:`CORE_THIRD_PARTY`;
* serving (the rest of ``mr_opensearch`` below the top layer): never imports ``trainer`` or the top layer;
* training (``trainer``): never imports the top layer, and of the serving side only :data:`TRAINER_MAY_USE`;
* top (``mr_opensearch.cli``, ``mr_opensearch.job``): the only place that joins both sides;
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

CORE = frozenset({
    "mr_opensearch", "mr_opensearch.errors", "mr_opensearch.strict", "mr_opensearch.hashing",
    "mr_opensearch.safe_write", "mr_opensearch.paths", "mr_opensearch.grading", "mr_opensearch.metrics",
    "mr_opensearch.onnx_encoder", "mr_opensearch.table_file", "mr_opensearch.console",
})
CORE_THIRD_PARTY = frozenset({"numpy", "onnxruntime", "tokenizers", "pydantic", "yaml"})
TOP_PREFIXES = ("mr_opensearch.cli", "mr_opensearch.job", "mr_opensearch.__main__")
TRAINER_MAY_USE = frozenset({"mr_opensearch.connection", "mr_opensearch.vector_index", "mr_opensearch.catalog"})
"""The serving side's public search backend (Stage 2 mining on a live cluster) and the catalog format
both sides read (training's reader keeps the serving reader's limits)."""


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


def layer(module: str) -> str:
    if module in CORE:
        return "core"
    if module.startswith(TOP_PREFIXES):
        return "top"
    if module == "trainer" or module.startswith("trainer."):
        return "training"
    return "serving"


def forbidden(imp: Import) -> str | None:
    """Why ``imp`` breaks the layering, or None."""
    if imp.target not in MODULES:
        if layer(imp.source) == "core" and imp.target not in sys.stdlib_module_names \
                and imp.target not in CORE_THIRD_PARTY and imp.target != "__future__":
            return f"the core may use only the standard library and {sorted(CORE_THIRD_PARTY)}"
        return None
    source, target = layer(imp.source), layer(imp.target)
    if source == "core" and target != "core":
        return "the core imports only the core"
    if source == "serving" and target in ("training", "top"):
        return f"the serving side must not import the {target} layer"
    if source == "training" and target == "top":
        return "the training side must not import the top layer (CLI, mros run job)"
    if source == "training" and target == "serving" and imp.target not in TRAINER_MAY_USE:
        return f"the training side uses only the serving side's public search backend {sorted(TRAINER_MAY_USE)}"
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
    Import("mr_opensearch.search", "trainer.run", ROOT / "mr_opensearch" / "search.py", 1),
    Import("trainer.run", "mr_opensearch.cli.train", ROOT / "trainer" / "run.py", 1),
    Import("trainer.run", "mr_opensearch.deploy", ROOT / "trainer" / "run.py", 1),
    Import("mr_opensearch.errors", "mr_opensearch.connection", ROOT / "mr_opensearch" / "errors.py", 1),
    Import("mr_opensearch.metrics", "pandas", ROOT / "mr_opensearch" / "metrics.py", 1),
])
def test_the_rules_reject_what_they_forbid(imp):
    assert forbidden(imp)


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
