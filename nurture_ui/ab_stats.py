"""The statistics of an A/B test of reply rates, written out with ``math`` (no SciPy).

- ``wilson_interval``: the 95% Wilson score interval of a proportion (Wilson 1927), which stays inside
  [0, 1] and behaves with few sends, unlike the normal approximation.
- ``two_proportion_z_test``: the pooled two-proportion z-test, two-sided p-value from the normal tail
  (``erfc``).
- ``compare``: which variant has the best reply rate, and whether it beats every other one at 95%: for two
  variants one z-test; for three or four, the best against each other one, each p-value multiplied by the
  number of comparisons (Bonferroni), so "significant" still means a 5% chance of a false winner overall.

Checking again and again as sends come in ("peeking") makes a false winner likelier than 5%; the minimum
number of sends per variant before an auto-winner (``nurture_ui.variant_results``) is what keeps it rare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile
ALPHA = 0.05


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval ``(low, high)`` of ``successes / trials``; None when there are no trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_z_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float] | None:
    """``(z, two-sided p)`` for "the two proportions differ", with the pooled standard error; None when it
    cannot be computed (no trials in a group, or every trial alike in both)."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    error = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if error == 0:
        return None
    z = (x1 / n1 - x2 / n2) / error
    return z, math.erfc(abs(z) / math.sqrt(2))


@dataclass(frozen=True)
class Arm:
    """One variant's figures: its letter, how many were sent, how many replied."""

    letter: str
    sent: int
    replied: int

    @property
    def rate(self) -> float | None:
        return self.replied / self.sent if self.sent else None


@dataclass(frozen=True)
class Comparison:
    """The verdict: ``best`` (the highest reply rate), ``significant`` when it beats every other variant at
    95%, ``p_value`` (the largest adjusted one; None when it could not be computed) and ``sentence``."""

    best: str | None
    significant: bool
    p_value: float | None
    sentence: str


def compare(arms: list[Arm]) -> Comparison:
    """Whether the variant with the best reply rate beats each of the others at 95% (see the module)."""
    measured = [a for a in arms if a.sent > 0]
    if len(measured) < 2 or len(measured) < len(arms):
        return Comparison(None, False, None, "Not enough evidence yet: every variant needs sends first.")
    best = max(measured, key=lambda a: (a.rate, -arms.index(a)))
    others = [a for a in measured if a is not best]
    if any(a.rate == best.rate for a in others):
        return Comparison(None, False, None, "Not enough evidence yet: the reply rates are level.")
    comparisons = len(others)
    p_values = []
    for other in others:
        test = two_proportion_z_test(best.replied, best.sent, other.replied, other.sent)
        if test is None:
            return Comparison(best.letter, False, None, "Not enough evidence yet.")
        p_values.append(min(1.0, test[1] * comparisons))
    p = max(p_values)
    higher = "higher" if comparisons == 1 else "the highest"
    adjusted = "" if comparisons == 1 else f", adjusted for {comparisons} comparisons"
    if p < ALPHA:
        sentence = f"{best.letter}'s reply rate is {higher}, significant at 95% ({p_text(p)}{adjusted})."
        return Comparison(best.letter, True, p, sentence)
    sentence = (
        f"Not enough evidence yet: {best.letter}'s reply rate is {higher} so far, "
        f"but not significant at 95% ({p_text(p)}{adjusted})."
    )
    return Comparison(best.letter, False, p, sentence)


def p_text(p: float) -> str:
    """A p-value as people write it: "p = 0.012", or "p < 0.001"."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
