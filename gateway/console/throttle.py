"""Guessing passwords made slow, without locking the operator on duty out.

- **By client address first.** Failed logins from one address (any user names) within
  ``WINDOW``: past ``ADDRESS_LIMIT`` the address is refused (429) until they age out. An
  attempt counts from the moment it starts, so parallel requests cannot slip past the count.
- **Per account and address, one at a time and a growing delay.** An attempt while another
  for the same account from the same address is being checked is refused (429), so parallel
  requests cannot race the count; each failure adds to the wait before the next check (up to
  ``MAX_DELAY``). A guesser elsewhere slows only itself: the operator's own address has no
  failures, and the right password is never refused.
- **Per account from everywhere**, a short delay once many addresses have failed for it
  (distributed guessing), capped at ``ACCOUNT_DELAY`` so that nobody can lock an account."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable

WINDOW = 600.0
ADDRESS_LIMIT = 20  # failed logins from one address within WINDOW
FREE_FAILURES = 2  # per account and address before the delay grows
MAX_DELAY = 8.0
ACCOUNT_FAILURES = 10  # from all addresses within WINDOW, then ACCOUNT_DELAY each
ACCOUNT_DELAY = 1.0


class TooMany(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__("too many failed logins from this address")
        self.retry_after = retry_after


class LoginThrottle:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._by_address: dict[str, deque[float]] = defaultdict(deque)
        self._by_account: dict[str, deque[float]] = defaultdict(deque)
        self._streak: dict[tuple[str, str], int] = defaultdict(int)
        self._checking: set[tuple[str, str]] = set()  # (account, address) being checked now

    def _recent(self, times: deque[float]) -> int:
        now = self.clock()
        while times and now - times[0] > WINDOW:
            times.popleft()
        return len(times)

    def admit(self, address: str) -> None:
        """Count an attempt from ``address`` now (TooMany past the limit)."""
        times = self._by_address[address]
        if self._recent(times) >= ADDRESS_LIMIT:
            raise TooMany(max(1.0, WINDOW - (self.clock() - times[0])))
        times.append(self.clock())  # counted before the password is checked

    def unadmit(self, address: str) -> None:
        """An attempt counted by ``admit`` that was refused before its check."""
        times = self._by_address.get(address)
        if times:
            times.pop()

    def begin(self, account: str, address: str) -> bool:
        """Start checking an attempt; False while another for the same account from the same
        address is being checked (one at a time: no racing the count)."""
        if (account, address) in self._checking:
            return False
        self._checking.add((account, address))
        return True

    def end(self, account: str, address: str) -> None:
        self._checking.discard((account, address))

    def delay(self, account: str, address: str) -> float:
        streak = self._streak[(account, address)]
        own = 0.0 if streak <= FREE_FAILURES else min(MAX_DELAY,
                                                      0.25 * 2 ** (streak - FREE_FAILURES))
        crowd = ACCOUNT_DELAY if self._recent(self._by_account[account]) >= ACCOUNT_FAILURES \
            else 0.0
        return max(own, crowd)

    def failed(self, account: str, address: str) -> None:
        self._streak[(account, address)] += 1
        self._by_account[account].append(self.clock())

    def succeeded(self, account: str, address: str) -> None:
        self._streak.pop((account, address), None)
        times = self._by_address.get(address)
        if times:
            times.pop()  # a right password is no failure of its address
