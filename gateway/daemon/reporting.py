"""Which problems to log: each source's first of a kind, within a bounded volume.

Bad input is kept whole in the store (dead letters) and counted; the log says each source and
reason once so that a technician sees what is wrong without a log line per message. Hostile
input on ever new topics must not turn that into a line per message either: beyond
``per_minute`` new lines of one reason a minute, the rest are counted and summed up in one line
a minute. Memory is bounded too: only the last ``keep`` pairs are remembered.
"""

from __future__ import annotations

from collections import Counter


class Reports:
    def __init__(self, *, keep: int = 4096, per_minute: int = 20) -> None:
        self.keep = keep
        self.per_minute = per_minute
        self._seen: dict[tuple[str, str], None] = {}
        self._window_start = 0.0
        self._lines: Counter[str] = Counter()  # lines logged this minute, by reason
        self._held: Counter[str] = Counter()  # first-of-a-kind not logged this minute

    def first(self, source: str, reason: str, now: float) -> bool:
        """Log this one? True for the first of this source and reason (within the volume)."""
        key = (source, reason)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self.keep:
            del self._seen[next(iter(self._seen))]
        if now - self._window_start >= 60.0:
            self._window_start = now
            self._lines.clear()
        if self._lines[reason] >= self.per_minute:
            self._held[reason] += 1
            return False
        self._lines[reason] += 1
        return True

    def held(self, now: float) -> dict[str, int]:
        """Once the minute is over: how many first-of-a-kind were not logged, by reason."""
        if not self._held or now - self._window_start < 60.0:
            return {}
        held, self._held = dict(self._held), Counter()
        return held
