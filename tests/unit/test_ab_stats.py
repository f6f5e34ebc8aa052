"""The A/B statistics against published values."""

from __future__ import annotations

import pytest

from nurture_ui.ab_stats import Arm, compare, p_text, two_proportion_z_test, wilson_interval

# Newcombe, R. G. (1998). "Two-sided confidence intervals for the single proportion: comparison of seven
# methods". Statistics in Medicine 17(8):857-872, Table II, method 3 (Wilson score, no continuity
# correction), 95%: 81/263, 15/148, 0/20 and 1/29.
NEWCOMBE_WILSON = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("successes", "trials", "low", "high"), NEWCOMBE_WILSON)
def test_wilson_interval_matches_newcombe_1998(successes, trials, low, high):
    got_low, got_high = wilson_interval(successes, trials)
    assert round(got_low, 4) == low
    assert round(got_high, 4) == high


def test_wilson_interval_of_nothing_sent_is_none():
    assert wilson_interval(0, 0) is None


def test_two_proportion_z_test_matches_openintro_mammogram_example():
    # OpenIntro Statistics, 4th ed., section 6.2.3 (the Canadian mammogram trial): 500 of 44,425 vs 505 of
    # 44,405 died of breast cancer; pooled p = 0.0113, Z = -0.17, p-value = 0.87.
    z, p = two_proportion_z_test(500, 44_425, 505, 44_405)
    assert round(z, 2) == -0.17
    assert round(p, 2) == 0.87


def test_two_proportion_z_test_matches_the_physicians_health_study():
    # Steering Committee of the Physicians' Health Study (1989), NEJM 321:129-135: heart attacks in 104 of
    # 11,037 on aspirin vs 189 of 11,034 on placebo; the usual textbook z-test gives Z = -5.0, p < 0.00001.
    z, p = two_proportion_z_test(104, 11_037, 189, 11_034)
    assert round(z, 1) == -5.0
    assert p < 0.00001


def test_z_test_is_undefined_without_sends_or_without_variation():
    assert two_proportion_z_test(0, 0, 3, 10) is None
    assert two_proportion_z_test(0, 10, 0, 10) is None


def test_two_variants_a_clear_difference_is_significant_in_plain_words():
    verdict = compare([Arm("A", 1000, 63), Arm("B", 1000, 121)])
    assert verdict.best == "B" and verdict.significant
    assert verdict.sentence == "B's reply rate is higher, significant at 95% (p < 0.001)."


def test_two_variants_a_small_difference_is_not_enough_evidence_yet():
    verdict = compare([Arm("A", 100, 10), Arm("B", 100, 12)])
    assert verdict.best == "B" and not verdict.significant
    assert verdict.sentence.startswith("Not enough evidence yet: B's reply rate is higher so far")
    assert round(verdict.p_value, 3) == 0.651


def test_three_variants_the_best_must_beat_each_other_after_bonferroni():
    # B vs A alone: p = 0.0485 (< 0.05); with two comparisons it counts as 0.097, so not significant.
    a, b, c = Arm("A", 400, 20), Arm("B", 400, 34), Arm("C", 400, 10)
    assert two_proportion_z_test(34, 400, 20, 400)[1] == pytest.approx(0.0485, abs=5e-4)
    verdict = compare([a, b, c])
    assert verdict.best == "B" and not verdict.significant
    assert "adjusted for 2 comparisons" in verdict.sentence
    verdict = compare([Arm("A", 400, 12), b, c])
    assert verdict.significant and verdict.sentence.startswith("B's reply rate is the highest")


def test_no_verdict_until_every_variant_was_sent_and_rates_differ():
    assert not compare([Arm("A", 10, 1), Arm("B", 0, 0)]).significant
    level = compare([Arm("A", 50, 5), Arm("B", 50, 5)])
    assert level.best is None and "level" in level.sentence


def test_p_values_read_as_people_write_them():
    assert p_text(0.0123) == "p = 0.012"
    assert p_text(0.0004) == "p < 0.001"
