"""What every section of the config file shares: strictness, and the error a bad file raises."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """The configuration file is missing or invalid."""


class StrictSection(BaseModel):
    """A section of the config file: unknown keys are refused, values are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)
