"""What the pipeline takes, one batch at a time: adapters' items, operator commands, the
outcomes of sent commands, the clock's ticks and config reloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.interface import Adapter
from gateway.domain.incident import Incident
from gateway.domain.model import ActionStatus
from gateway.engine.state import OperatorCommand


@dataclass(frozen=True, slots=True)
class Delivery:
    """An item an adapter took in (an MQTT message, a block of registers read)."""

    adapter: Adapter
    item: Any


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    """An operator command of the store's queue (row ``row_id``)."""

    row_id: int
    command: OperatorCommand
    stored: Incident | None = None  # the store's snapshot, for commands on closed incidents


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What became of an actuator's command: sent, withheld or failed."""

    incident_id: str
    action_id: str
    status: ActionStatus
    detail: str


@dataclass(frozen=True, slots=True)
class Reload:
    """Re-read the config (SIGHUP, or ``alarm-gateway reload`` as a queued command)."""

    actor: str
    source: str
    row_id: int | None = None


class Tick:
    """Time passes: deadlines, shelves running out, points falling silent, self-checks."""


TICK = Tick()

Input = Delivery | QueuedCommand | ActionResult | Reload | Tick
