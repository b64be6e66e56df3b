"""How long a login must wait after repeated failures: per account and per client address.

Five failures within 15 minutes lock for one minute; each further failure doubles the
wait, up to 15 minutes. A locked attempt is answered without checking the password and
is not counted, so waiting out the lock is all it takes. An address gets more tries
than an account (a reading room shares one address) but is locked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Throttle:
    """``limit`` failures within ``window`` seconds lock for ``base_delay``, doubling per further failure."""

    limit: int = 5
    window: float = 15 * 60.0
    base_delay: float = 60.0

    def retry_after(self, failures: list[float], now: float) -> float:
        """Seconds until the next attempt may be checked (0: now), given the failure times."""
        recent = sorted(at for at in failures if at > now - self.window)
        if len(recent) < self.limit:
            return 0.0
        delay = min(self.base_delay * 2 ** (len(recent) - self.limit), self.window)
        return max(0.0, recent[-1] + delay - now)


ACCOUNT_THROTTLE = Throttle()
ADDRESS_THROTTLE = Throttle(limit=20)
