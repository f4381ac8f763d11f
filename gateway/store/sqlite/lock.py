"""One daemon per store: a lock file held for the daemon's whole life."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gateway.errors import DaemonNotRunning, StoreError


class DaemonLock:
    """One daemon per store: held by the daemon for its whole life, probed by the CLI."""

    def __init__(self, store_path: Path) -> None:
        self.path = store_path.with_name(store_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        except OSError as exc:
            raise StoreError(
                f"cannot open the store's lock file {self.path}: {exc.strerror or exc}; the "
                f"store's directory {self.path.parent} must be writable by the gateway's user"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(f"another gateway is already running on this store "
                             f"({self.path})") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def held_by_other(self) -> bool:
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def require_daemon(self) -> None:
        if not self.held_by_other():
            raise DaemonNotRunning(
                "the gateway daemon is not running on this store; start it "
                "(alarm-gateway run -c CONFIG) and try again")
