"""The arithmetic behind the load and growth figures: percentiles of latencies and the 1.5× growth rule.

Pure functions, no database: ``percentile`` (linear interpolation between the closest ranks, as numpy's
default), ``latency_summary`` (p50/p95/p99 and requests/s of one page's samples) and ``growth`` (a figure at
a size against the same figure at the smallest size, and whether it stayed within the allowed factor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of ``values``, interpolating linearly between the closest ranks.

    Raises ``ValueError`` on an empty list or a ``q`` outside 0–100.
    """
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0–100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(samples_ms: list[float], seconds: float) -> dict:
    """One page's figures from its response times (ms) over a run of ``seconds``: count, requests/s, p50,
    p95, p99 and the slowest, rounded to 0.1."""
    return {
        "requests": len(samples_ms),
        "requests_per_s": round(len(samples_ms) / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(percentile(samples_ms, 50), 1),
        "p95_ms": round(percentile(samples_ms, 95), 1),
        "p99_ms": round(percentile(samples_ms, 99), 1),
        "max_ms": round(max(samples_ms), 1),
    }


@dataclass(frozen=True)
class Growth:
    """A figure at a size beside the same figure at the base size: ``ratio`` is how many times worse it got
    (time: value ÷ base; a rate: base ÷ value), ``passed`` whether that stayed within ``factor``."""

    base: float
    value: float
    ratio: float
    factor: float

    @property
    def passed(self) -> bool:
        return self.ratio <= self.factor


def growth(base: float, value: float, *, factor: float = 1.5, higher_is_better: bool = False) -> Growth:
    """How much worse ``value`` is than ``base`` (a time when ``higher_is_better`` is false, else a rate).

    A zero or negative ``value`` for a rate, or ``base`` for a time, counts as infinitely worse.
    """
    if higher_is_better:
        ratio = base / value if value > 0 else math.inf
    else:
        ratio = value / base if base > 0 else math.inf
    return Growth(base=base, value=value, ratio=round(ratio, 3), factor=factor)
