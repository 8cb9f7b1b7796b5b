"""The base of every mros config model: unknown fields are an error, so typos are not ignored."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


M = TypeVar("M", bound=BaseModel)


def read_config_file(path, hint: str = "see README: Configuration") -> dict:
    """The mapping in a YAML (.yaml/.yml) or TOML (.toml) config file, with errors that name the file."""
    import tomllib
    from pathlib import Path

    import yaml

    from mr_opensearch.errors import MrosError

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


def validate_config(model: type[M], raw: dict, path, what: str = "config") -> M:
    """``model.model_validate(raw)``, with the failing fields listed in an error that names ``path``."""
    from pydantic import ValidationError

    from mr_opensearch.errors import MrosError

    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MrosError(f"{path}: invalid {what}: {problems}", "fix the listed fields (unknown fields are rejected)") from None


def load_config_file(model: type[M], path, what: str = "config", hint: str = "see README: Configuration") -> M:
    """Read and validate a config file; ``None`` gives the model's defaults."""
    if path is None:
        return model()
    return validate_config(model, read_config_file(path, hint), path, what)
