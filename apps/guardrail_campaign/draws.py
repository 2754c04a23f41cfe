"""One case grammar, two ways to draw from it: hypothesis (search and shrinking) or a seeded NumPy generator (speed).

The Adversary (strategies.py) writes each kind of case once, as a function of a `draw(spec, label=...)` callable.
A `Spec` is one choice (a float in a range, an integer, an element of a list, ...) and knows both its hypothesis
strategy and how to sample it from a `numpy.random.Generator`. `Grammar(fn)` turns such a function into:

- `.strategy`: a hypothesis strategy (every choice goes through hypothesis, so failures shrink);
- `.sample(rng)`: one case straight from NumPy, with no hypothesis engine in the loop: drawing the filter cases
  costs ~0.3 ms instead of ~4.5 ms each (~60 choices per case; measured on the Panda, 2,000 cases, one thread), so
  the campaign can explore 100,000 cases.

The NumPy sampler imitates hypothesis's taste for edges: a bounded float or integer is its lower or upper bound
10 % of the time each, and unbounded floats favour NaN, +-inf, 0, -0.0 and huge and tiny values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

EDGE = 0.1
"""Probability of each bound of a bounded float or integer in NumPy draws."""
NASTY_FLOATS = (math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, -1e308, 5e-324, 1.0, -1.0)
"""Unbounded floats drawn by NumPy half of the time (the other half: a normal scaled by 10^U(-3, 12))."""


class Spec:
    """One choice: its hypothesis strategy (built on first use: NumPy draws never need it) and its NumPy sampler."""

    __slots__ = ("_make", "_strategy", "sample")

    def __init__(self, make: Callable[[], st.SearchStrategy], sample: Callable[[np.random.Generator], Any]) -> None:
        self._make, self._strategy, self.sample = make, None, sample

    @property
    def strategy(self) -> st.SearchStrategy:
        if self._strategy is None:
            self._strategy = self._make()
        return self._strategy


def floats(lo: float, hi: float) -> Spec:
    """A finite float in [lo, hi]."""
    lo, hi = float(lo), float(hi)

    def sample(rng: np.random.Generator) -> float:
        u = rng.random()
        if u < EDGE:
            return lo
        if u < 2 * EDGE:
            return hi
        return float(min(hi, max(lo, lo + (hi - lo) * rng.random())))

    return Spec(lambda: st.floats(lo, hi, allow_nan=False, allow_infinity=False), sample)


def any_float() -> Spec:
    """Any float, NaN and infinities included."""

    def sample(rng: np.random.Generator) -> float:
        if rng.random() < 0.5:
            return NASTY_FLOATS[int(rng.integers(len(NASTY_FLOATS)))]
        return float(rng.standard_normal() * 10.0 ** rng.uniform(-3, 12))

    return Spec(lambda: st.floats(allow_nan=True, allow_infinity=True), sample)


def integers(lo: int, hi: int) -> Spec:
    """An integer in [lo, hi]."""

    def sample(rng: np.random.Generator) -> int:
        u = rng.random()
        if u < EDGE:
            return lo
        if u < 2 * EDGE:
            return hi
        return int(rng.integers(lo, hi + 1))

    return Spec(lambda: st.integers(lo, hi), sample)


def booleans() -> Spec:
    return Spec(st.booleans, lambda rng: bool(rng.random() < 0.5))


def sampled_from(values: Sequence[Any]) -> Spec:
    values = list(values)
    return Spec(lambda: st.sampled_from(values), lambda rng: values[int(rng.integers(len(values)))])


def just(value: Any) -> Spec:
    return Spec(lambda: st.just(value), lambda rng: value)


def none() -> Spec:
    return just(None)


def one_of(*specs: Spec) -> Spec:
    """One of the specs, each equally likely in NumPy draws."""
    return Spec(lambda: st.one_of(*(s.strategy for s in specs)),
                lambda rng: specs[int(rng.integers(len(specs)))].sample(rng))


def lists(element: Spec, min_size: int = 0, max_size: int = 4) -> Spec:
    def sample(rng: np.random.Generator) -> list:
        return [element.sample(rng) for _ in range(int(rng.integers(min_size, max_size + 1)))]

    return Spec(lambda: st.lists(element.strategy, min_size=min_size, max_size=max_size), sample)


def subsets(values: Sequence[Any], min_size: int, max_size: int) -> Spec:
    """A list of distinct elements of `values` (min_size..max_size of them)."""
    values = list(values)

    def sample(rng: np.random.Generator) -> list:
        k = int(rng.integers(min_size, min(max_size, len(values)) + 1))
        return [values[i] for i in rng.permutation(len(values))[:k]]

    return Spec(lambda: st.lists(st.sampled_from(values), min_size=min_size, max_size=max_size, unique=True),
                sample)


def text(max_size: int = 4) -> Spec:
    """Short text (numbers-as-text among them: '0.1' is no float for the filter)."""
    alphabet = list("0123456789.-eEinfa x\u00e9\u2603\x00")

    def sample(rng: np.random.Generator) -> str:
        return "".join(alphabet[int(i)] for i in rng.integers(len(alphabet), size=int(rng.integers(max_size + 1))))

    return Spec(lambda: st.text(max_size=max_size), sample)


def vectors(lo: float, hi: float, n: int) -> Spec:
    """A float64 [n] vector with entries in [lo, hi] (NumPy draws: one vectorised call)."""
    lo, hi = float(lo), float(hi)

    def sample(rng: np.random.Generator) -> np.ndarray:
        u = rng.random(n)
        v = lo + (hi - lo) * rng.random(n)
        v = np.where(u < EDGE, lo, np.where(u < 2 * EDGE, hi, v))
        return np.clip(v, lo, hi)

    def make() -> st.SearchStrategy:
        element = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
        return st.lists(element, min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.float64))

    return Spec(make, sample)


Draw = Callable[..., Any]
"""draw(spec, label=None) -> value."""


class Grammar:
    """A case-building function fn(draw) as a hypothesis strategy (`.strategy`) or a NumPy sampler (`.sample`)."""

    def __init__(self, fn: Callable[[Draw], Any]) -> None:
        self.fn = fn

        @st.composite
        def composite(hyp_draw) -> Any:
            return fn(lambda spec, label=None: hyp_draw(spec.strategy, label=label))

        self.strategy = composite()

    def sample(self, rng: np.random.Generator) -> Any:
        return self.fn(lambda spec, label=None: spec.sample(rng))
