"""What a Mosquitto config file means for the alarms queued for the gateway.

The broker is where alarms wait while the gateway restarts or falls behind; settings that are
fine for telemetry lose alarms the broker has already acknowledged to the devices. Read where
the file can be read (the embedded broker's, or ``broker.config_file`` of a site's own broker)
and said at start-up and by ``alarm-gateway check``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger("gateway.broker")

# Mosquitto 2.0's defaults for the settings judged here.
_DEFAULTS = {"persistence": "false", "autosave_interval": "1800", "autosave_on_changes": "false",
             "max_queued_messages": "1000", "persistent_client_expiration": ""}
QUEUE_AT_LEAST = 100_000  # a storm of a big site, queued while the gateway restarts
SAVE_CHANGES_AT_MOST = 1000
EXPIRY_AT_LEAST = 86_400.0


@dataclass(frozen=True, slots=True)
class Finding:
    setting: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.problem} ({self.fix})"


def read_settings(path: Path) -> dict[str, str]:
    """The settings of a Mosquitto config, with the files of its ``include_dir`` (the last
    value of a setting wins, as in Mosquitto). Raises OSError if the file cannot be read."""
    settings: dict[str, str] = {}
    for file in [path, *_included(path)]:
        for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
            words = line.split(None, 1)
            if not words or words[0].startswith("#"):
                continue
            settings[words[0]] = words[1].strip() if len(words) > 1 else ""
    return settings


def _included(path: Path) -> list[Path]:
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        words = line.split(None, 1)
        if len(words) == 2 and words[0] == "include_dir":
            folder = Path(words[1].strip())
            if folder.is_dir():
                found += sorted(folder.glob("*.conf"))
    return found


def judge(settings: dict[str, str]) -> list[Finding]:
    """What in these settings can lose or drop alarms queued for the gateway."""
    value = {**_DEFAULTS, **settings}
    found = []
    if value["persistence"].lower() != "true":
        found.append(Finding("persistence", "the queue is kept in memory only: a broker "
                             "restart loses every alarm waiting for the gateway",
                             "persistence true"))
    elif value["autosave_on_changes"].lower() != "true":
        found.append(Finding("autosave_interval", f"the queue is saved every "
                             f"{value['autosave_interval']} s: a broker crash loses the alarms "
                             "it acknowledged since", "autosave_on_changes true and "
                             "autosave_interval 100"))
    elif _number(value["autosave_interval"], 1800) > SAVE_CHANGES_AT_MOST:
        found.append(Finding("autosave_interval", f"the queue is saved every "
                             f"{value['autosave_interval']} changes: a broker crash loses up "
                             "to that many", "autosave_interval 100"))
    queued = _number(value["max_queued_messages"], 1000)
    if 0 < queued < QUEUE_AT_LEAST:
        found.append(Finding("max_queued_messages", f"at most {queued:.0f} messages wait for "
                             "the gateway; the rest are dropped while the devices still get "
                             "their acknowledgement", f"max_queued_messages {QUEUE_AT_LEAST} "
                             "or more (0: no limit)"))
    expiry = _duration(value["persistent_client_expiration"])
    if expiry is not None and expiry < EXPIRY_AT_LEAST:
        found.append(Finding("persistent_client_expiration", "the gateway's queue is dropped "
                             "when it is down longer than "
                             f"{value['persistent_client_expiration']}",
                             "14d, or leave it unset"))
    return found


def check_file(path: Path) -> list[Finding]:
    return judge(read_settings(path))


def _number(text: str, default: float) -> float:
    try:
        return float(text)
    except ValueError:
        return default


_UNITS = {"h": 3600.0, "d": 86_400.0, "w": 7 * 86_400.0, "m": 30 * 86_400.0,
          "y": 365 * 86_400.0}


def _duration(text: str) -> float | None:
    """Mosquitto's expiry: a number with h, d, w, m (months) or y; None when unset."""
    text = text.strip()
    if not text or text[-1] not in _UNITS:
        return None
    try:
        return float(text[:-1]) * _UNITS[text[-1]]
    except ValueError:
        return None


SYSTEM_CONFIG = Path("/etc/mosquitto/mosquitto.conf")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def config_of(host: str, port: int, configured: Path | None, embedded: Path | None,
              system: Path = SYSTEM_CONFIG) -> Path | None:
    """The Mosquitto config that governs the gateway's broker, where it can be known: the one
    configured, the embedded broker's, or this machine's when it listens on that port."""
    if configured is not None:
        return configured
    if embedded is not None:
        return embedded
    if host not in _LOOPBACK:
        return None
    try:
        ports = _listener_ports(system)
    except OSError:
        return None
    return system if str(port) in ports or (not ports and port == 1883) else None


def _listener_ports(path: Path) -> set[str]:
    ports = set()
    for file in [path, *_included(path)]:
        for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in ("listener", "port"):
                ports.add(words[1])
    return ports


def log_findings(host: str, port: int, configured: Path | None,
                 embedded: Path | None) -> list[Finding]:
    """Check the broker's config where it can be found, and log what could lose alarms."""
    path = config_of(host, port, configured, embedded)
    if path is None:
        return []
    try:
        found = check_file(path)
    except OSError as exc:
        log.warning("broker_config_unreadable", file=str(path), error=exc.strerror or str(exc))
        return []
    for finding in found:
        log.warning("broker_config_risk", file=str(path), setting=finding.setting,
                    problem=finding.problem, fix=finding.fix)
    return found
