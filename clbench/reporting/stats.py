"""Statistics over seeds: the mean with a Student-t confidence interval, a paired t-test with an
exact sign-flip permutation test beside it, and Holm's correction of a family of p-values."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """The mean of n values and its confidence interval; low and high are None when n < 2."""

    mean: float
    low: float | None
    high: float | None
    n: int

    @property
    def half_width(self) -> float | None:
        return None if self.low is None else (self.high - self.low) / 2


@dataclass(frozen=True)
class PairedComparison:
    """Mean of the differences a - b over matched seeds, its interval, and the paired t-test's
    two-sided p-value (None with fewer than 2 pairs, or when every difference is the same)."""

    difference: Estimate
    p_value: float | None
    seeds: tuple[int, ...]
    p_holm: float | None = None  # p_value Holm-corrected over the comparisons it was tested with
    # the exact two-sided sign-flip permutation test of the mean difference, which assumes no
    # normality (with n seeds it cannot go below 2 / 2**n: 0.0625 for 5); None as p_value
    p_permutation: float | None = None


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean and t-interval: mean +- t_{(1+c)/2, n-1} * s / sqrt(n), s the sample standard deviation."""
    n = len(values)
    if n == 0:
        raise ValueError("no values to average")
    mean = math.fsum(values) / n
    if n < 2:
        return Estimate(mean, None, None, n)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n)


def paired_comparison(a: dict[int, float], b: dict[int, float], confidence: float = CONFIDENCE) -> PairedComparison | None:
    """Compares a and b (value per seed) on the seeds they share; None when they share none."""
    seeds = tuple(sorted(set(a) & set(b)))
    if not seeds:
        return None
    differences = [a[s] - b[s] for s in seeds]
    p_value = p_permutation = None
    if len(seeds) >= 2 and len(set(differences)) > 1:
        p_value = float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
        p_permutation = sign_flip_p(differences)
    return PairedComparison(mean_interval(differences, confidence), p_value, seeds, p_permutation=p_permutation)


def sign_flip_p(differences: Sequence[float]) -> float:
    """Exact two-sided p-value of the mean of paired differences under sign flips (scipy's
    permutation_test over every one of the 2**n flips)."""
    values = np.asarray(differences, dtype=float)
    result = stats.permutation_test((values,), np.mean, permutation_type="samples", n_resamples=2 ** len(values),
                                    alternative="two-sided")
    return float(result.pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down correction of m p-values (it bounds the chance of any false positive among
    them): the i-th smallest becomes the largest of min(1, (m - j + 1) p_(j)) over j <= i. In the
    order given."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def holm_corrected(comparisons: Sequence[PairedComparison | None]) -> list[PairedComparison | None]:
    """The comparisons with p_holm set, Holm-corrected over those that have a p-value; the others
    (None, or no p-value) as they were. In the order given."""
    tested = [i for i, c in enumerate(comparisons) if c is not None and c.p_value is not None]
    corrected = list(comparisons)
    for i, p_holm in zip(tested, holm([comparisons[i].p_value for i in tested])):
        corrected[i] = replace(comparisons[i], p_holm=p_holm)
    return corrected
