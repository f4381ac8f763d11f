"""The store's interface: everything the daemon, the CLI, the console, the KPIs, the reports
and the scenario replays keep and read, as methods on one open store. A backend implements it
(``gateway.store.sqlite``); callers never see its tables, its SQL or its connections.

Callers reach an implementation through ``gateway.store``: ``open_records`` for the CLI and the
console's reads, ``DaemonStore`` for the daemon (every call on the store's own thread, given a
``Records``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from gateway.domain.incident import Incident
from gateway.domain.model import Event
from gateway.store.values import (
    CommandRow,
    DeadLetter,
    FollowUpTask,
    Mark,
    OutboxItem,
    StartupState,
    StoredConfigVersion,
    StoredSignal,
    UserRow,
    WriteSet,
)


class Records(Protocol):
    # --------------------------------------------------------------- the daemon's writes
    def write_batch(self, ws: WriteSet, now: float) -> list[OutboxItem]:
        """Everything one batch changed, in one transaction; its outbox rows."""

    def mark_outbox(self, results: list[tuple[int, str, str, float]]) -> None:
        """Outcomes of sent effects: (id, status, detail, when it happened)."""

    def load_startup(self) -> StartupState: ...

    def pending_commands(self) -> list[tuple[int, str, str, str, dict[str, str]]]: ...

    def prune(self, *, now: float, signals_days: float | None, dead_letters_days: float | None,
              commands_days: float | None, outbox_days: float | None) -> dict[str, int]:
        """One bounded round of retention; ``"more"`` is 1 while rows are left to prune."""

    def record_config_version(self, *, at: float, hash: str, actor: str, source: str,
                              summary: str, files: Any) -> int: ...

    def latest_config_version(self) -> tuple[int, str] | None: ...

    # --------------------------------------------------------------- incidents
    def list_incidents(self, *, include_closed: bool = False,
                       limit: int = 200) -> list[Incident]: ...

    def get_incident(self, incident_id: str) -> Incident | None: ...

    def incident_events(self, incident_id: str) -> list[Event]: ...

    def incident_signals(self, incident_id: str) -> list[StoredSignal]: ...

    def incidents_opened(self, since: float, until: float) -> list[Incident]:
        """Incidents opened in ``[since, until)``, oldest first."""

    def incident_event_data(self, since: float, until: float,
                            kinds: Sequence[str]) -> list[tuple[str, str, dict[str, Any]]]:
        """(incident, kind, data) of these events of the incidents opened in the period."""

    def incidents_open_at(self, at: float) -> list[Incident]:
        """Incidents open at ``at``: opened before, and not closed by then."""

    def incidents_touched_since(self, at: float) -> list[Incident]:
        """Incidents opened or changed since ``at``."""

    # --------------------------------------------------------------- tasks, letters, versions
    def list_follow_ups(self, *, include_done: bool = False,
                        limit: int = 200) -> list[FollowUpTask]: ...

    def list_dead_letters(self, limit: int = 50) -> list[DeadLetter]: ...

    def list_config_versions(self, limit: int = 50) -> list[StoredConfigVersion]: ...

    def recent_commands(self, limit: int = 500) -> list[CommandRow]:
        """The latest actuator commands of the outbox, newest first."""

    # --------------------------------------------------------------- operator commands
    def submit_command(self, verb: str, incident_id: str, actor: str, args: dict[str, str],
                       now: float) -> int:
        """Queue a command for the daemon (on record); its id."""

    def command_result(self, command_id: int) -> tuple[str, str | None]: ...

    # --------------------------------------------------------------- points and signals
    def point_row(self, point_id: str) -> tuple[str, float] | None:
        """A point's stored state and when it was last seen."""

    def points_heard_since(self, point_ids: Sequence[str], since: float) -> int:
        """How many of these points are not offline and changed state since ``since``."""

    def mark(self, at: float) -> Mark: ...

    def signals_after(self, mark: Mark) -> list[tuple[str, str, bool]]:
        """(point, state, drill) of each signal stored after ``mark``."""

    def heard_between(self, since: float, until: float) -> list[tuple[str, float, float, int,
                                                                       str]]:
        """Per point that reported within ``[since, until)``: (point, first, last, how many
        signals, the states they carried, comma-separated). What the device said: going
        offline (silent, its unit or bridge lost) is no report."""

    def commands_after(self, mark: Mark) -> list[tuple[str, str]]:
        """(target, status) of each actuator write queued after ``mark`` and not withheld."""

    def stored_since(self, mark: Mark) -> int:
        """Signals and dead letters stored after ``mark``."""

    # --------------------------------------------------------------- console users
    def add_user(self, user: UserRow, now: float) -> None:
        """A new user (ValueError if the name is taken)."""

    def update_user(self, name: str, *, password_hash: str | None = None,
                    roles: Sequence[str] | None = None, disabled: bool | None = None) -> bool:
        """Change a user; False when there is no such user."""

    def list_users(self) -> list[UserRow]: ...

    def user_count(self) -> int: ...

    def find_user(self, name: str) -> UserRow | None: ...

    def add_session(self, token_hash: bytes, user: str, now: float, expires_at: float) -> None:
        """A new session (and the expired ones gone)."""

    def session_user(self, token_hash: bytes, now: float) -> UserRow | None: ...

    def session_expires(self, token_hash: bytes) -> float: ...

    def end_sessions(self, *, token_hash: bytes | None = None, user: str | None = None) -> None:
        ...
