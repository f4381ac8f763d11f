"""The site config: YAML validated with pydantic, compiled into frozen values.

Relative paths in the file (store, playbooks) are resolved against the config file's folder, so
the daemon behaves the same whatever its working directory is. The broker and the store path can
be overridden from the command line or from ``ALARM_GATEWAY_BROKER`` / ``ALARM_GATEWAY_STORE``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError

from gateway.config.modbus import Threshold
from gateway.config.schema import schema_problems, unknown_name
from gateway.config.site_compile import compile_site, console_config, expand_points, limits_of
from gateway.config.site_schema import DEFAULT_EMBEDDED_PORT, SiteConfigModel
from gateway.config.site_values import (
    ENV_BROKER,
    ENV_CONSOLE,
    ENV_STORE,
    ActuatorConfig,
    BrokerConfig,
    Limits,
    MqttBinding,
    PointConfig,
    SiteConfig,
)
from gateway.config.yamlfile import load_yaml
from gateway.domain import site_time
from gateway.errors import ConfigReferenceError, ConfigSchemaError, Problem


def load_config(path: Path | str, *, broker: str | None = None, store: str | None = None,
                console: str | None = None,
                environ: Mapping[str, str] | None = None) -> SiteConfig:
    """Read, validate and compile a site config. Overrides win over the environment."""
    path = Path(path)
    env = os.environ if environ is None else environ
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigSchemaError([Problem(str(path), "",
                                         "the config must be a mapping of sections")])
    try:
        model = SiteConfigModel.model_validate(data)
    except ValidationError as exc:
        raise schema_problems(exc, path, lines) from None
    site_time.use(model.site.timezone)  # one site per process: its clock is the one spoken
    points = expand_points(model.points, path, lines, model.site.id)
    site = compile_site(model, points, path, lines, broker or env.get(ENV_BROKER),
                    store or env.get(ENV_STORE))
    adapters = ["mqtt", *site.modbus, *site.receivers, *site.dc09_receivers]
    unknown = sorted(set(model.supervision.silent_after) - set(adapters))
    if unknown:
        raise ConfigReferenceError([Problem(
            str(path), "supervision.silent_after", unknown_name(
                "adapter", unknown[0], adapters),
            lines.line(("supervision", "silent_after", unknown[0])))])
    return replace(site, console=console_config(model.console, path.parent,
                                          console or env.get(ENV_CONSOLE), path),
                   health_limits=limits_of(model.supervision),
                   retention=model.store.retention.model_dump())


__all__ = [
    "DEFAULT_EMBEDDED_PORT",
    "ENV_BROKER",
    "ENV_CONSOLE",
    "ENV_STORE",
    "ActuatorConfig",
    "BrokerConfig",
    "Limits",
    "MqttBinding",
    "PointConfig",
    "SiteConfig",
    "Threshold",
]
