"""Closed-loop evaluation: Wilson interval values, determinism under seed, and baselines that separate."""
from __future__ import annotations

import pytest

from jepa_mpc.sim.evaluate import EvalSettings, evaluate, run_episodes, wilson_interval


@pytest.mark.parametrize("k, n, lo, hi", [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0),
                                          (45, 50, 0.7864, 0.9565)])
def test_wilson_interval_matches_reference_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_same_seed_same_results():
    s = EvalSettings(policy="random", max_steps=8, seed=3)
    a, b = run_episodes(s, [0, 1]), run_episodes(s, [0, 1])
    assert [r.distances for r in a] == [r.distances for r in b]
    c = run_episodes(EvalSettings(policy="random", max_steps=8, seed=4), [0, 1])
    assert [r.distances for r in a] != [r.distances for r in c]


def test_random_is_far_below_oracle_and_nothing_is_violated():
    rand, _ = evaluate(EvalSettings(policy="random", max_steps=30), episodes=4)
    oracle, _ = evaluate(EvalSettings(policy="oracle", max_steps=30), episodes=4)
    assert oracle["success_rate"] == 1.0 and rand["success_rate"] <= 0.25
    assert oracle["final_distance_mean_m"] < 0.01 < rand["final_distance_mean_m"]
    assert rand["violations"] == oracle["violations"] == 0


def test_settings_are_validated():
    with pytest.raises(ValueError, match="policy"):
        EvalSettings(policy="telepathy")
    with pytest.raises(ValueError, match="goal"):
        EvalSettings(goal="vibes")
