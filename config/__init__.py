"""Environment configuration: a typed, validated, frozen model loaded from environments/*.yaml."""

from lms_opscheck.config.errors import ConfigError
from lms_opscheck.config.loader import load_environment
from lms_opscheck.config.model import Environment
from lms_opscheck.config.search import available_environments, search_path

__all__ = [
    "ConfigError",
    "Environment",
    "available_environments",
    "load_environment",
    "search_path",
]
