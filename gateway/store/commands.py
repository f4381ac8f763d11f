"""An operator command for the running daemon from another process (the CLI, a scenario
replay): queued in the store, taken and answered by the daemon, its answer awaited here."""

from __future__ import annotations

import time

from gateway.errors import CommandError, StoreError
from gateway.store.records import Records

COMMAND_TIMEOUT = 10.0  # seconds the daemon has to answer a command


def await_command(records: Records, verb: str, incident_id: str, actor: str,
                  args: dict[str, str], timeout: float = COMMAND_TIMEOUT) -> str:
    """Queue a command and wait for the daemon's answer: its result, or CommandError with
    its reason when the daemon refused it; StoreError when it did not answer in time (the
    command stays queued and is applied when the daemon takes it)."""
    command_id = records.submit_command(verb, incident_id, actor, args, time.time())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, result = records.command_result(command_id)
        if status == "done":
            return result or f"{verb}: done"
        if status == "rejected":
            raise CommandError(result or f"{verb}: rejected")
        time.sleep(0.05)
    raise StoreError(f"the daemon did not take {verb} (command {command_id}) within "
                     f"{timeout:.0f}s; it stays queued and is applied when the daemon takes it")
