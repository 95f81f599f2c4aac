"""Statistics over seeds against values worked out by hand.

With 2 degrees of freedom Student's t has a closed form, F(t) = 1/2 + t / (2 sqrt(2 + t^2)), so
the quantile and the p-value below need no statistics library: three seeds make df = 2.
"""

import math

import pytest

from clbench.reporting.stats import holm, mean_interval, paired_comparison

T_975_DF2 = 0.95 * math.sqrt(2 / (1 - 0.95**2))  # solves t / sqrt(2 + t^2) = 0.95: 4.3027


def p_two_sided_df2(t):
    return 1 - abs(t) / math.sqrt(2 + t * t)


def test_t_quantile_by_hand_is_the_textbook_value():
    assert T_975_DF2 == pytest.approx(4.302653, abs=1e-6)


def test_mean_interval_of_three_values():
    estimate = mean_interval([2.0, 4.0, 9.0])  # mean 5, sample variance (9 + 1 + 16) / 2 = 13
    half = T_975_DF2 * math.sqrt(13 / 3)
    assert estimate.mean == pytest.approx(5.0)
    assert (estimate.low, estimate.high) == pytest.approx((5 - half, 5 + half))
    assert estimate.n == 3


def test_one_value_has_no_interval():
    estimate = mean_interval([7.5])
    assert (estimate.mean, estimate.low, estimate.high, estimate.half_width) == (7.5, None, None, None)


def test_no_values_is_an_error():
    with pytest.raises(ValueError):
        mean_interval([])


def test_paired_difference_whose_interval_contains_zero():
    a = {0: 1.0, 1: 2.0, 2: 3.0}
    b = {0: 0.0, 1: 2.0, 2: 1.0}  # differences 1, 0, 2: mean 1, sd 1
    comparison = paired_comparison(a, b)
    half = T_975_DF2 / math.sqrt(3)
    assert comparison.difference.mean == pytest.approx(1.0)
    assert (comparison.difference.low, comparison.difference.high) == pytest.approx((1 - half, 1 + half))
    assert comparison.difference.low < 0 < comparison.difference.high
    assert comparison.p_value == pytest.approx(p_two_sided_df2(math.sqrt(3)))  # 0.2254
    assert comparison.p_value > 0.05


def test_paired_difference_that_is_significant():
    a = {0: 15.0, 1: 10.0, 2: 27.0}
    b = {0: 10.0, 1: 4.0, 2: 20.0}  # differences 5, 6, 7: mean 6, sd 1, t = 6 sqrt(3)
    comparison = paired_comparison(a, b)
    assert comparison.difference.low == pytest.approx(6 - T_975_DF2 / math.sqrt(3))
    assert comparison.difference.low > 0
    assert comparison.p_value == pytest.approx(p_two_sided_df2(6 * math.sqrt(3)))  # 0.0092


def test_pairing_uses_only_matched_seeds_and_is_not_an_unpaired_test():
    # Large spread between seeds, constant-ish gap within a seed: paired, the gap is clear.
    a = {0: 11.0, 1: 52.0, 2: 93.0, 7: 1000.0}
    b = {0: 10.0, 1: 50.0, 2: 90.0, 5: -1000.0}  # differences 1, 2, 3
    comparison = paired_comparison(a, b)
    assert comparison.seeds == (0, 1, 2)
    assert comparison.difference.mean == pytest.approx(2.0)
    assert comparison.p_value == pytest.approx(p_two_sided_df2(2 * math.sqrt(3)))


def test_identical_differences_and_single_pairs_have_no_p_value():
    assert paired_comparison({0: 3.0, 1: 4.0}, {0: 1.0, 1: 2.0}).p_value is None
    single = paired_comparison({0: 3.0}, {0: 1.0, 1: 2.0})
    assert (single.difference.mean, single.p_value, single.difference.low) == (2.0, None, None)
    assert paired_comparison({0: 3.0}, {1: 1.0}) is None


def test_holm_multiplies_the_ith_smallest_by_m_minus_i_plus_1_and_keeps_the_order():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> raised to 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.6, 0.9]) == [1.0, 1.0] and holm([0.2]) == [0.2] and holm([]) == []


def test_the_sign_flip_permutation_p_value_counts_the_flips_as_extreme_as_the_data():
    from clbench.reporting.stats import sign_flip_p

    assert sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)  # only all + and all - reach |mean| 2
    assert sign_flip_p([1.0, -2.0, 3.0]) == pytest.approx(6 / 8)  # sums +-6, +-4, +-2 of 8 reach |2|
    assert sign_flip_p([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2 / 32)  # 5 seeds: never below 0.0625
    comparison = paired_comparison({0: 3.0, 1: 5.0, 2: 9.0}, {0: 1.0, 1: 2.0, 2: 3.0})
    assert comparison.p_permutation == pytest.approx(0.25) and comparison.p_value < comparison.p_permutation
