"""The gateway's exception tree.

GatewayError
├── ConfigError            a config or playbook file is unusable (exit_code says which kind)
│   ├── ConfigFileError    missing or unreadable file
│   ├── ConfigSyntaxError  not parseable YAML
│   ├── ConfigSchemaError  a field is missing, unknown or of the wrong type/value
│   └── ConfigReferenceError  ids that do not resolve, duplicates, contradictions
├── DecodeError            a payload that cannot be turned into a reading (dead-lettered)
├── CommandError           an operator command that cannot be applied (nothing changed)
├── StoreError             the store cannot be opened or written
└── DaemonNotRunning       a CLI command needs the daemon and none holds the store
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class GatewayError(Exception):
    exit_code = 1


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in one file, at one place."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class ConfigError(GatewayError):
    exit_code = 5

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigFileError(ConfigError):
    exit_code = 3


class ConfigSyntaxError(ConfigError):
    exit_code = 4


class ConfigSchemaError(ConfigError):
    exit_code = 5


class ConfigReferenceError(ConfigError):
    exit_code = 6


class DecodeError(GatewayError):
    """A payload that cannot be decoded; ``reason`` is a short stable code for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class Refusal(enum.StrEnum):
    """Why a command was not applied."""

    NOT_FOUND = "not_found"  # the incident it names does not exist
    CONFLICT = "conflict"  # not now, not like this: the state or the arguments forbid it
    FAILED = "failed"  # a defect of the gateway met it (logged, counted)


class CommandError(GatewayError):
    """``code`` names the refusal for a page that says it in its own language (the console's
    ``refusal.<code>`` texts), with ``params`` to fill in: ids by what they are (``step``,
    ``prompt``, ``branch``, ``option``, ``record``, ``role``; named by whoever shows them),
    anything else as text. The message is the English said on the command line and in logs."""

    exit_code = 7

    def __init__(self, message: str, refusal: Refusal = Refusal.CONFLICT, *, code: str = "",
                 **params: str | list[str]) -> None:
        self.refusal = refusal
        self.code = code
        self.params = params
        super().__init__(message)


class StoreError(GatewayError):
    exit_code = 8


class DaemonNotRunning(GatewayError):
    exit_code = 9
