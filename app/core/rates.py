"""A rate such as "60/minute", parsed once (used by settings validation and the rate limiter)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")


@dataclass(frozen=True)
class Rate:
    amount: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _LIMIT.match(text)
        if not match or int(match.group(1)) < 1:
            raise ValueError(f"expected N/second, N/minute, N/hour or N/day (got {text!r})")
        return cls(int(match.group(1)), _PERIODS[match.group(2)])
