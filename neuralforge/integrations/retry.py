"""Retry with exponential backoff and jitter, for errors classified as transient.

The n-th retry (n = 0, 1, …) waits ``min(max_delay, base_delay * factor**n)`` scaled by a random
factor in ``[1 - jitter, 1]`` ("full jitter" at ``jitter=1``), so clients that failed together do
not come back together; never less than the error's ``retry_after``. Anything not transient is
raised at once, and the last error is raised when the attempts run out.

>>> policy = RetryPolicy(attempts=4, base_delay=0.5, factor=2, max_delay=1.5, jitter=0.5)
>>> [policy.delay(n, rand=0.0) for n in range(3)], policy.delay(0, rand=1.0)
([0.5, 1.0, 1.5], 0.25)
>>> calls, slept = [], []
>>> def flaky():
...     calls.append(1)
...     if len(calls) < 3:
...         raise TransientError("the server is restarting")
...     return "ok"
>>> retry(flaky, policy=policy, sleep=slept.append, rand=lambda: 0.0), slept
('ok', [0.5, 1.0])
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from neuralforge.integrations.errors import TransientError

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries in all; 1 never retries
    base_delay: float = 0.5  # seconds before the first retry
    factor: float = 2.0  # growth of the delay per retry
    max_delay: float = 10.0  # cap of one delay
    jitter: float = 0.5  # 0: exact delays; 1: anywhere between 0 and the delay

    def __post_init__(self):
        checks = (
            ("attempts", isinstance(self.attempts, int) and self.attempts >= 1, "an integer >= 1"),
            ("base_delay", self.base_delay >= 0, ">= 0"),
            ("factor", self.factor >= 1, ">= 1"),
            ("max_delay", self.max_delay >= self.base_delay, f">= base_delay ({self.base_delay})"),
            ("jitter", 0 <= self.jitter <= 1, "between 0 and 1"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"RetryPolicy.{name} must be {expected}; received {getattr(self, name)!r}")

    def delay(self, retry: int, rand: float) -> float:
        """Seconds before retry number ``retry`` (0-based), for a uniform draw ``rand`` in [0, 1)."""
        return min(self.max_delay, self.base_delay * self.factor**retry) * (1 - self.jitter * rand)


def is_transient(err: BaseException) -> bool:
    """The default classification: only :class:`TransientError` is worth retrying."""
    return isinstance(err, TransientError)


def retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy | None = None,
    is_transient: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], object] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """``fn()``, retried per ``policy`` while it raises errors ``is_transient`` accepts.

    ``sleep`` and ``rand`` are injectable so tests run without waiting.
    """
    policy = policy or RetryPolicy()
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as err:
            if attempt == policy.attempts or not is_transient(err):
                raise
            wait = max(policy.delay(attempt - 1, rand()), getattr(err, "retry_after", None) or 0.0)
            log.warning(
                "attempt %d of %d failed (%s); retrying in %.2f s", attempt, policy.attempts, err, wait
            )
            sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")
