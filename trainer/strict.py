"""Config models and config files for the training side: the shared base lives in :mod:`mr_opensearch.core.strict`."""

from mr_opensearch.core.strict import M, StrictModel, load_config_file, read_config_file, validate_config

__all__ = ["M", "StrictModel", "load_config_file", "read_config_file", "validate_config"]
