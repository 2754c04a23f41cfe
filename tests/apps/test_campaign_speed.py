"""The campaign's speed-ups change how fast it runs, not what it tests (issue 20, item 6).

- A filter reused across cases (runners._safety_filter: copied from one built per configuration-without-zones, given
  the case's zones) answers every case exactly as a freshly built SafetyFilter does.
- The oracle's batched kinematics (GroundTruth.points_many, swept_many) give MuJoCo's positions of every check point
  and find a breach in any one of several segments checked together.
- The NumPy explorer (draws.py) draws the same grammar as hypothesis: within each choice's bounds, bounds included,
  reproducibly per seed (how much faster it is per case than hypothesis's engine is a benchmark figure).
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from jepa_mpc.apps.guardrail_campaign import CampaignParams, CampaignSetup, draws, run_campaign
from jepa_mpc.apps.guardrail_campaign.runners import _deployed, _safety_filter
from jepa_mpc.apps.guardrail_campaign.strategies import INPUT_STRATA, SWEPT_STRATA, TARGET_STRATA, Adversary
from jepa_mpc.planner.config import GuardrailConfig, SphereZone
from jepa_mpc.planner.guardrail_checker import GroundTruth
from jepa_mpc.planner.safety import SafetyFilter


@pytest.fixture(scope="module")
def setup() -> CampaignSetup:
    return CampaignSetup.build(CampaignParams.defaults(), load_world_model=False)


def _answer(filt, tick):
    command, report = filt.filter(tick.proposal, tick.q_measured, tick.stamp_s, tick.now_s,
                                  q_reference=tick.q_reference, qd_reference=tick.qd_reference, gripper=tick.gripper)
    return command.joint_targets.tolist(), command.gripper, command.hold, report


def test_a_reused_filter_answers_every_case_as_a_fresh_one(setup):
    adv, rng = Adversary(setup), np.random.default_rng(7)
    grammars = ([adv.filter_targets(s) for s in TARGET_STRATA] + [adv.filter_swept(s) for s in SWEPT_STRATA]
                + [adv.filter_inputs(s) for s in INPUT_STRATA[:6]])
    reasons: set[str] = set()
    with_zones = 0
    for grammar in grammars:
        for _ in range(12):
            case = grammar.sample(rng)
            cfg = _deployed(setup, case.guardrails)
            reused = _answer(_safety_filter(cfg, setup.robot), case.tick)
            fresh = _answer(SafetyFilter(cfg, setup.robot), case.tick)
            assert reused == fresh, case.describe()
            reasons |= {r.value for r in fresh[3].reasons}
            with_zones += bool(case.guardrails.keep_out or case.guardrails.speed_zones)
    # Not vacuous: the cases had their own zones, and the zones changed what the filter did.
    assert with_zones > 100
    assert {"keep_out", "scaled_for_zone_speed", "clamped_step", "stale_state"} <= reasons, reasons


def test_batched_oracle_kinematics_are_mujocos_per_point():
    for name in ("panda", "robosuite:ur5e", "pybullet_data:xarm/xarm6_robot.urdf"):
        truth = GroundTruth(name)
        m, d = truth.model, mujoco.MjData(truth.model)
        rng = np.random.default_rng(0)
        qs = truth.mjcf_lower + rng.random((6, truth.dof)) * (truth.mjcf_upper - truth.mjcf_lower)
        batched = truth.points_many(qs)
        for q, pts in zip(qs, batched, strict=True):
            d.qpos[:] = m.qpos0
            d.qpos[truth.qpos_adr] = q
            mujoco.mj_kinematics(m, d)
            for point, p in zip(truth.check_points, pts, strict=True):
                site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, point.frame)
                pos, mat = (d.site_xpos[site], d.site_xmat[site]) if site >= 0 else (d.body(point.frame).xpos,
                                                                                      d.body(point.frame).xmat)
                np.testing.assert_allclose(p, pos + mat.reshape(3, 3) @ np.asarray(point.offset), atol=1e-12)


def test_segments_checked_together_each_report_their_own_breach():
    truth = GroundTruth("panda")
    q = np.asarray(truth.robot.home, dtype=np.float64)
    a = np.stack([q, q - 0.2, q + 0.2])  # segment 0 stands still: it sweeps nothing, and names nothing
    b = np.stack([q, q - 0.1, q + 0.25])
    mid = truth.points(None, (a[2] + b[2]) / 2)[truth.ee_index]  # a tiny zone only segment 2 passes through
    g = GuardrailConfig(keep_out=(SphereZone(tuple(mid), 1e-3),), workspace_lo=(-2, -2, -2), workspace_hi=(2, 2, 2),
                        table_z_m=-5.0)
    found = truth.swept_many(g, a, b, 0.1, [10, 11, 12], 1e-9)
    assert {(v.kind, v.step) for v in found} == {("swept_keep_out", 12)}
    assert truth.swept(g, a[2], b[2], 0.1, 4, 1e-9)[0].step == 4
    assert truth.swept(g, a[1], b[1], 0.1, 4, 1e-9) == []


def test_numpy_draws_stay_in_bounds_and_hit_them():
    rng = np.random.default_rng(0)
    f = [draws.floats(-0.5, 2.0).sample(rng) for _ in range(2000)]
    v = np.array([draws.vectors(-1e12, 1e12, 7).sample(rng) for _ in range(300)])
    i = [draws.integers(1, 6).sample(rng) for _ in range(500)]
    assert min(f) == -0.5 and max(f) == 2.0 and f.count(-0.5) > 100 and f.count(2.0) > 100
    assert np.all(np.abs(v) <= 1e12) and np.sum(v == 1e12) > 50 and np.median(np.abs(v)) > 1e11
    assert set(i) == {1, 2, 3, 4, 5, 6}
    subset = draws.subsets("abcde", 1, 4).sample(rng)
    assert 1 <= len(subset) <= 4 and len(set(subset)) == len(subset)
    nasty = [draws.any_float().sample(rng) for _ in range(400)]
    assert any(np.isnan(x) for x in nasty) and np.inf in nasty and -np.inf in nasty


def test_explorers_are_reproducible_per_seed_and_agree_on_a_correct_filter(setup):
    """(How much faster the NumPy explorer is belongs to the benchmark figures in docs/robots.md, not here.)"""
    def run(seed: int, explorer: str) -> dict:
        report = run_campaign(setup, 300, seed=seed, progress=False, categories=["filter.targets"],
                              mpc_fraction=0.0, explorer=explorer).to_json()
        report.pop("seconds")
        for cat in report["categories"].values():
            cat.pop("seconds")
        return report

    first = run(5, "numpy")
    assert first == run(5, "numpy")
    assert first != run(6, "numpy")
    assert run(5, "hypothesis")["violations"] == first["violations"] == 0
    with pytest.raises(ValueError, match="explorer"):
        run_campaign(setup, 300, progress=False, explorer="random")
