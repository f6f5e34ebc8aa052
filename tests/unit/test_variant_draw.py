"""Which variant an enrollment gets: the same every time, and in the weights' proportions."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from nurture_ui.variants import draw_variant, equal_weights


def test_the_same_enrollment_and_step_always_draw_the_same_variant():
    step = uuid.uuid4()
    for _ in range(50):
        enrollment = uuid.uuid4()
        first = draw_variant(enrollment, step, [50, 50])
        assert all(draw_variant(enrollment, step, [50, 50]) == first for _ in range(5))
        assert draw_variant(uuid.UUID(str(enrollment)), uuid.UUID(str(step)), [50, 50]) == first


@pytest.mark.parametrize("weights", [[50, 50], [70, 30], [25, 25, 25, 25], [10, 20, 30, 40], [34, 33, 33]])
def test_ten_thousand_enrollments_split_in_the_weights_proportions(weights):
    step = uuid.uuid4()
    n = 10_000
    counts = Counter(draw_variant(uuid.uuid4(), step, weights) for _ in range(n))
    for index, weight in enumerate(weights):
        share = weight / 100
        # Five standard errors of a binomial share: a failure means a biased draw, not bad luck (p < 1e-6).
        tolerance = 5 * (share * (1 - share) / n) ** 0.5
        assert abs(counts[index] / n - share) < tolerance, (index, counts)


def test_equal_split_is_whole_percents_summing_to_one_hundred():
    assert equal_weights(2) == [50, 50]
    assert equal_weights(3) == [34, 33, 33]
    assert equal_weights(4) == [25, 25, 25, 25]
