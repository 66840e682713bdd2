"""Settings: the schema (typed dataclasses), loading (TOML + WXBOT_* environment), validation.

from wxbot.config import Settings, load_settings
"""

from wxbot.config.loading import load_settings, settings_from_dict
from wxbot.config.schema import ConfigError, Settings

__all__ = ["ConfigError", "Settings", "load_settings", "settings_from_dict"]
