"""The base of every mros config model: unknown fields are an error, so typos are not ignored."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def load_model_file(path):
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
        raise MrosError(f"{path}: the config must be a mapping of sections", "see README: Configuration")
    return raw
