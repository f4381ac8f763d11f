"""What goes into the store and comes out of it: plain values, whatever the backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.domain.commands import Answer
from gateway.domain.effects import Outgoing
from gateway.domain.incident import Incident
from gateway.domain.model import Event, Signal
from gateway.errors import StoreError
from gateway.points.conditioning import PointStatus

DEAD_LETTER_KEEP = 4096  # bytes of a bad input kept for the technician


@dataclass(frozen=True, slots=True)
class SignalRecord:
    signal: Signal
    payload: bytes
    incidents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    at: float
    source: str
    topic: str
    reason: str
    detail: str
    payload: bytes
    size: int


@dataclass(slots=True)
class WriteSet:
    """Everything one batch changes; written in one transaction."""

    signals: list[SignalRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    incidents: dict[str, Incident] = field(default_factory=dict)
    points: dict[str, PointStatus] = field(default_factory=dict)
    outbox: list[Outgoing] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # each adapter's ledger (adapters.interface.Ledger; MQTT: its packet ids in flight, see
    # adapters/mqtt_inflight.py): adapter -> (ids added, ids removed), removed first
    ledgers: dict[str, tuple[Sequence[int], Sequence[int]]] = field(default_factory=dict)
    # heartbeats per point since the last batch (readings that changed nothing)
    repeats: dict[str, int] = field(default_factory=dict)
    command_results: list[Answer] = field(default_factory=list)
    outbox_done: list[tuple[int, str, str, float]] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    next_number: int | None = None

    def __bool__(self) -> bool:
        return bool(self.signals or self.events or self.incidents or self.points or self.outbox
                    or self.dead_letters or any(a or r for a, r in self.ledgers.values())
                    or self.command_results or self.outbox_done or self.meta or self.repeats)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    outgoing: Outgoing


@dataclass(frozen=True, slots=True)
class StartupState:
    open_incidents: list[Incident]
    points: dict[str, PointStatus]
    pending_outbox: list[OutboxItem]
    next_number: int
    drill: str = ""  # the drill window (JSON), if one was started
    shelved: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledgers: dict[str, tuple[int, ...]] = field(default_factory=dict)  # adapter -> ids
    # pending outbox rows that are not an effect this version can send: (id, why)
    unreadable_outbox: tuple[tuple[int, str], ...] = ()
    # actuators commanded by hand for no incident, in flight or the last of each (JSON list)
    site_actions: str = ""
    roster_swaps: str = ""  # the roster's swaps given since the config (JSON list)


class StoreBehind(StoreError):
    """An ordered write refused because an earlier one of the series has not committed yet."""


@dataclass(frozen=True, slots=True)
class StoredSignal:
    id: int
    at: float
    point_id: str
    device: str
    state: str
    value: Any
    changed: bool
    replayed: bool
    source: str


@dataclass(frozen=True, slots=True)
class FollowUpTask:
    incident_id: str
    id: str
    role: str
    text_zh: str
    text_en: str
    due_at: float
    status: str
    done_at: float | None
    done_by: str
    note: str


@dataclass(frozen=True, slots=True)
class StoredConfigVersion:
    id: int
    at: float
    hash: str
    actor: str
    source: str
    summary: str
    files: str  # the text recorded (JSON)


@dataclass(frozen=True, slots=True)
class BackupInfo:
    dest: Path
    pages: int
    bytes: int
    schema_version: int
    incidents: int
    events: int
    signals: int
    seconds: float


@dataclass(frozen=True, slots=True)
class RestoreInfo:
    source: Path
    store: Path
    aside: Path | None  # where the store that was in place now is (with its -wal/-shm), if any
    schema_version: int  # the source's, before migrating
    migrations: tuple[int, ...]  # applied to the restored store
    incidents: int
    events: int
    signals: int
    seconds: float


@dataclass(frozen=True, slots=True)
class UserRow:
    """A console user as kept: the password only as its hash."""

    name: str
    display: str
    roles: tuple[str, ...]
    disabled: bool = False
    password_hash: str = ""


@dataclass(frozen=True, slots=True)
class Mark:
    """Where the store stood at a moment: what came after it is new (a scenario's replay)."""

    at: float
    signal_id: int = 0
    dead_letter_id: int = 0
    outbox_id: int = 0


@dataclass(frozen=True, slots=True)
class CommandRow:
    """An actuator command of the outbox, as the console's actuator page shows it."""

    action_id: str
    status: str
    created_at: float
    done_at: float | None
    detail: str | None
    incident_id: str
