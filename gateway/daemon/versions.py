"""Config versions: what a config (site file and playbooks) hashes to, and what changed.

A running gateway re-reads its config on SIGHUP or ``alarm-gateway reload``; every version it
applies is stored with its hash and a summary of the change, and each incident records the
version it opened under.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from gateway.config.site import SiteConfig
from gateway.playbook.definition import Playbook


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    hash: str
    files: tuple[str, ...]

    @property
    def short(self) -> str:
        return self.hash[:12]


def config_version(site: SiteConfig, playbooks: Mapping[str, Playbook]) -> ConfigVersion:
    """The hash of the site file and every playbook file, by name and content."""
    digest = hashlib.sha256()
    files = [site.file, *sorted(Path(p.file) for p in playbooks.values())]
    for path in files:
        digest.update(str(path.name).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return ConfigVersion(digest.hexdigest(), tuple(str(f) for f in files))


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    summary: tuple[str, ...]  # what changed, a line each
    needs_restart: tuple[str, ...]  # changed settings that only a restart applies

    @property
    def empty(self) -> bool:
        return not self.summary and not self.needs_restart


def _by_id(old: Mapping[str, object], new: Mapping[str, object],
           what: str) -> list[str]:
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(k for k in set(old) & set(new) if old[k] != new[k])
    out = []
    for label, ids in (("added", added), ("removed", removed), ("changed", changed)):
        if ids:
            shown = ", ".join(ids[:6]) + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")
            out.append(f"{what} {label}: {shown}")
    return out


def _playbook_key(p: Playbook) -> object:
    # the same file read again compares equal; the path is not the content
    return (p.name, p.severity, p.trigger, p.stages, p.category, p.commander, p.manual,
            p.statement, p.records, p.review, p.follow_up)


def diff(old_site: SiteConfig, old_playbooks: Mapping[str, Playbook], new_site: SiteConfig,
         new_playbooks: Mapping[str, Playbook]) -> ConfigDiff:
    summary = [
        *_by_id(old_site.points, new_site.points, "points"),
        *_by_id(old_site.actuators, new_site.actuators, "actuators"),
        *_by_id({k: _playbook_key(v) for k, v in old_playbooks.items()},
                {k: _playbook_key(v) for k, v in new_playbooks.items()}, "playbooks"),
        *_by_id(old_site.modbus, new_site.modbus, "Modbus connections"),
        *_by_id(old_site.roles, new_site.roles, "roles"),
        *_by_id(old_site.contacts, new_site.contacts, "contacts"),
    ]
    for name, before, after in (
            ("site name and address", (old_site.site_name, old_site.address,
                                       old_site.crossroads, old_site.callback_phone),
             (new_site.site_name, new_site.address, new_site.crossroads,
              new_site.callback_phone)),
            ("supervision", old_site.health_limits, new_site.health_limits),
            ("retention", dict(old_site.retention), dict(new_site.retention))):
        if before != after:
            summary.append(f"{name} changed")
    if old_site.broker.subscriptions != new_site.broker.subscriptions:
        summary.append("broker subscriptions changed")
    restart = [name for name, before, after in (
        # the subscriptions follow the points at once; the connection itself needs a restart
        ("broker", replace(old_site.broker, subscriptions=()),
         replace(new_site.broker, subscriptions=())),
        ("store", (old_site.store_path, old_site.store_synchronous),
         (new_site.store_path, new_site.store_synchronous)),
        ("console", old_site.console, new_site.console),
        ("site id", old_site.site_id, new_site.site_id),
        ("outputs (MQTT prefix)", old_site.mqtt_prefix, new_site.mqtt_prefix),
    ) if before != after]
    return ConfigDiff(tuple(summary), tuple(restart))
