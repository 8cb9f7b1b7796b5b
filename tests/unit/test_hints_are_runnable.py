"""Every hint and message of an error names only options and commands that exist (issue #30, item 8): the
error texts of ``mr_opensearch`` are read from the source (``ast``), and each ``--option`` and each
`` `mros ...` `` command in them is looked up in the real CLI (typer's click tree)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import typer

from mr_opensearch.cli import app

ROOT = Path(__file__).resolve().parents[2]
ERROR_TYPES = {"MrosError", "UsageError", "DataError", "_fail", "SearchInputError"}
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
FOREIGN_COMMAND = re.compile(r"`(?!mros )[a-z][\w.-]* [^`]*`")  # `pip install --force-reinstall mros` is pip's


def _commands() -> dict[tuple[str, ...], object]:
    def walk(command: object, path: tuple[str, ...]) -> dict[tuple[str, ...], object]:
        found = {path: command}
        for name, sub in getattr(command, "commands", {}).items():
            found.update(walk(sub, (*path, name)))
        return found

    return walk(typer.main.get_command(app), ())


def _text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's with ``{}`` where a value goes."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp):
        return (_text(node.left) or "") + (_text(node.right) or "")
    return None


def error_texts() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((ROOT / "mr_opensearch").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in ERROR_TYPES:
                for part in [*node.args, *(k.value for k in node.keywords if k.arg in ("hint", "message"))]:
                    text = _text(part)
                    if text:
                        found.append((str(path.relative_to(ROOT)), node.lineno, text))
    return found


def test_the_scan_reads_the_error_texts():
    texts = error_texts()
    assert len(texts) > 300
    assert any("--allow-shrink" in t or "{allow_shrink}" in t for *_, t in texts)


def test_every_option_named_in_an_error_exists():
    commands = _commands()
    options = {opt for command in commands.values() for param in getattr(command, "params", ())
               for opt in param.opts if opt.startswith("--")}
    unknown = []
    for path, line, text in error_texts():
        own = FOREIGN_COMMAND.sub("", text)
        unknown += [f"{path}:{line}: an option named at run time ({text!r})" for _ in re.findall(r"--\{\}", own)]
        for option in OPTION.findall(own):
            if option not in options:
                unknown.append(f"{path}:{line}: {option}")
    assert not unknown, "errors name options no command has:\n" + "\n".join(unknown)


def test_every_mros_command_named_in_an_error_exists():
    commands = _commands()
    unknown = []
    for path, line, text in error_texts():
        for quoted in re.findall(r"`mros ([^`]*)`", text):
            words = [w for w in quoted.split() if re.fullmatch(r"[a-z][a-z-]*", w)]
            depth = 0
            while depth < len(words) and tuple(words[: depth + 1]) in commands:
                depth += 1
            if depth == 0:
                unknown.append(f"{path}:{line}: mros {quoted}")
    assert not unknown, "errors name commands that do not exist:\n" + "\n".join(unknown)
