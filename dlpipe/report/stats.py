"""Intervals over seeds and Welch's t-test, with Student's t distribution from the regularized incomplete beta
function (Numerical Recipes' continued fraction): no SciPy for two numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1.0e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1.0e-14:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_tail(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom: the two-sided p-value."""
    return incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p (p > 0.5), by bisection on the tail."""
    low, high = 0.0, 1.0e6
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if t_tail(mid, df) / 2 > 1.0 - p else (low, mid)
    return (low + high) / 2


@dataclass(frozen=True)
class Interval:
    """mean ± half (95 %, Student's t over the values); n values."""

    mean: float
    half: float
    n: int

    def text(self, digits: int = 4) -> str:
        return f"{self.mean:.{digits}g} ± {self.half:.2g}"


def interval(values: list[float], level: float = 0.95) -> Interval:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return Interval(mean, math.nan, n)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return Interval(mean, t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n), n)


def welch(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """(t, degrees of freedom, two-sided p) of Welch's t-test that the means of a and b differ."""
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((v - ma) ** 2 for v in a) / (len(a) - 1)
    vb = sum((v - mb) ** 2 for v in b) / (len(b) - 1)
    se2 = va / len(a) + vb / len(b)
    if se2 == 0.0:
        return (math.inf if ma != mb else 0.0), float(len(a) + len(b) - 2), (0.0 if ma != mb else 1.0)
    t = (ma - mb) / math.sqrt(se2)
    df = se2 ** 2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    return t, df, t_tail(t, df)


def paired(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """(t, degrees of freedom, two-sided p) of the paired t-test that a[i] - b[i] is zero on average (the same
    folds scored by two pipelines)."""
    d = [x - y for x, y in zip(a, b)]
    mean = sum(d) / len(d)
    var = sum((v - mean) ** 2 for v in d) / (len(d) - 1)
    if var == 0.0:
        return (math.inf if mean != 0 else 0.0), float(len(d) - 1), (0.0 if mean != 0 else 1.0)
    t = mean / math.sqrt(var / len(d))
    return t, float(len(d) - 1), t_tail(t, len(d) - 1)


def in_words(p: float, of: str = "seed") -> str:
    """A p-value as what it means for two groups of seeds (of="fold": two cross-validations)."""
    if p < 0.01:
        return f"p = {p:.2g}: far larger than the {of}s' spread; not chance"
    if p < 0.05:
        return f"p = {p:.2g}: larger than the {of}s' spread; unlikely to be chance"
    return f"p = {p:.2g}: within the {of}s' spread; it may be the {of}, not the change"
