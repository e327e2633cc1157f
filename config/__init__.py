"""Environment configuration: a typed, validated, frozen model loaded from environments/*.yaml."""

from lms_opscheck.config.loader import ConfigError, available_environments, load_environment
from lms_opscheck.config.model import Environment

__all__ = ["ConfigError", "Environment", "available_environments", "load_environment"]
