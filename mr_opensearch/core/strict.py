"""The base of every mros config model: unknown fields are an error, so typos are not ignored, and a value
assigned after loading is validated like one read from a file (``validate_assignment``).

Command-line options that override config fields go through :func:`apply_overrides`: the config with the
options set is validated again as a whole, so a bad option gets the message a bad config file gets
(naming the command-line options instead of the file)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


M = TypeVar("M", bound=BaseModel)


def read_config_file(path, hint: str = "see README: Configuration") -> dict:
    """The mapping in a YAML (.yaml/.yml) or TOML (.toml) config file, with errors that name the file."""
    import tomllib
    from pathlib import Path

    import yaml

    from mr_opensearch.core.errors import MrosError

    path = Path(path)
    if not path.exists():
        raise MrosError(f"config file {path} not found", "pass an existing --config file, or omit it for the defaults")
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else (yaml.safe_load(text) or {})
    except (yaml.YAMLError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MrosError(f"{path}: cannot parse config: {exc}", "check the YAML/TOML syntax") from None
    if not isinstance(raw, dict):
        raise MrosError(f"{path}: the config must be a mapping of sections", hint)
    return raw


def validate_config(model: type[M], raw: dict, path, what: str = "config", exit_code: int = 1) -> M:
    """``model.model_validate(raw)``, with the failing fields listed in an error that names ``path``."""
    from pydantic import ValidationError

    from mr_opensearch.core.errors import MrosError

    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MrosError(f"{path}: invalid {what}: {problems}", "fix the listed fields (unknown fields are rejected)",
                        exit_code=exit_code) from None


def load_config_file(model: type[M], path, what: str = "config", hint: str = "see README: Configuration") -> M:
    """Read and validate a config file; ``None`` gives the model's defaults."""
    if path is None:
        return model()
    return validate_config(model, read_config_file(path, hint), path, what)


OVERRIDES_SOURCE = "the command-line options"


def apply_overrides(config: M, overrides: dict[str, Any], what: str = "config") -> M:
    """A copy of ``config`` with ``overrides`` (dotted field path -> value; ``None`` values are left out) set,
    validated as a whole like a config file: a bad value raises the :func:`validate_config` error, naming
    ``the command-line options`` where a file's error names the file, with exit code 2 (a usage error)."""
    data = config.model_dump()
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, name = dotted.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[name] = value
    return validate_config(type(config), data, OVERRIDES_SOURCE, what, exit_code=2)
