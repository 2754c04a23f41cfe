"""The guardrail campaign (`jepa-mpc guardrail-test`): it passes on the shipped parameters, it is
reproducible, and it fails loudly, with a shrunk counterexample, when the filter or the planner's
guardrails are broken (so its checker can fail). It runs on any arm: on robosuite's UR5e and pybullet's xArm6
(no checkpoint: a kinematic world model) it finds nothing, and a filter broken on purpose is caught there too.
The parameter-file loader reads the launch/ YAML files as the nodes do. The slow test is the CI campaign: 10k
fixed-seed cases through the CLI entry point.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jepa_mpc.apps.cli import SUBCOMMANDS, main
from jepa_mpc.apps.guardrail_campaign import (
    CATEGORIES,
    CampaignParams,
    CampaignSetup,
    node_parameters,
    run_campaign,
    split_budget,
)
from jepa_mpc.models.shipped import SHIPPED_CHECKPOINT
from jepa_mpc.planner import registry
from jepa_mpc.planner.config import GuardrailConfig, SafetyConfig, SpeedZone, SphereZone
from jepa_mpc.planner.guardrail_checker import GroundTruth, zone_sdf
from jepa_mpc.planner.kinematic_model import NullWorldModel
from jepa_mpc.planner.safety import SafetyCommand, SafetyFilter, SafetyReason, SafetyReport
from jepa_mpc.robots import load_robot

LAUNCH = pathlib.Path(__file__).resolve().parents[2] / "launch"
OTHER_ARMS = ("robosuite:ur5e", "pybullet_data:xarm/xarm6_robot.urdf")
"""Third-party descriptions (an MJCF, a URDF with package:// meshes) of arms the shipped checkpoint never saw."""


@pytest.fixture(scope="module")
def setup() -> CampaignSetup:
    """The planner's default configuration with the shipped checkpoint (no ROS needed)."""
    return CampaignSetup.build(CampaignParams.defaults())


_ARM_SETUPS: dict[str, CampaignSetup] = {}


def arm_setup(name: str) -> CampaignSetup:
    """The planner's defaults for another arm (no --params): a kinematic world model, no checkpoint. Built once."""
    if name not in _ARM_SETUPS:
        _ARM_SETUPS[name] = CampaignSetup.build(CampaignParams.defaults(name))
    return _ARM_SETUPS[name]


def _passthrough(self, proposed, q_measured, stamp_s, now_s, **kwargs):
    """A broken safety filter: sends whatever it is given, unclamped and unchecked."""
    p = np.atleast_2d(np.asarray(proposed, dtype=np.float64))
    return SafetyCommand(p, None, False), SafetyReport((), False, len(p), len(p))


# ------------------------------------------------------------------------------------ the campaign


def test_campaign_finds_no_violation_on_default_params(setup):
    result = run_campaign(setup, 300, seed=0, progress=False)
    assert result.cases == 300 and result.violations == 0, [
        (c.name, c.counterexample_violations) for c in result.categories.values()
    ]
    cats = result.categories
    assert all(cats[name].cases >= 1 for name in CATEGORIES)
    assert sum(cats[name].cases for name in ("mpc.goals", "mpc.adversarial")) == 9  # 3 % of 300
    seen = sum((c.interventions for c in cats.values()), start=type(cats["mpc.goals"].interventions)())
    # The cases reach the interesting places: clamps, Cartesian holds, rejected inputs and OK plans.
    for kind in (
        "clamped_step",
        "clamped_joint_limit",
        "keep_out",
        "workspace_exit",
        "hold",
        "stale_state",
        "non_finite_state",
        "bad_command_shape",
        "plan ok",
        "plan invalid_input",
    ):
        assert seen[kind] > 0, kind


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=3), st.floats(), st.lists(st.floats(), max_size=12),
                 st.lists(st.lists(st.floats(), min_size=1, max_size=3), max_size=3)))
def test_proprio_of_any_adversarial_q_is_a_float_vector_of_the_encoder_size(q):
    """The campaign feeds malformed joint readings on purpose; building the encoder's proprioception from them
    must never raise, and anything it cannot read must be NaN (which the planner refuses)."""
    holder = dataclasses.make_dataclass("Holder", [("proprio_dim", int)])(9)
    out = CampaignSetup.proprio(holder, q)
    assert out.shape == (9,) and out.dtype == np.float32


def test_campaign_is_reproducible(setup):
    first = run_campaign(setup, 60, seed=3, progress=False).to_json()
    second = run_campaign(setup, 60, seed=3, progress=False).to_json()
    for report in (first, second):
        report.pop("seconds")
        for cat in report["categories"].values():
            cat.pop("seconds")
    assert first == second


def test_split_gives_most_cases_to_the_filter():
    split = split_budget(10_000)
    assert sum(split.values()) == 10_000
    assert split["mpc.goals"] + split["mpc.adversarial"] == 300
    with pytest.raises(ValueError):
        split_budget(3)


def test_broken_filter_is_caught_with_a_shrunk_counterexample(setup, monkeypatch):
    monkeypatch.setattr(SafetyFilter, "filter", _passthrough)
    result = run_campaign(
        setup,
        100,
        seed=0,
        progress=False,
        categories=["filter.targets", "filter.inputs", "mpc.adversarial"],
    )
    assert result.violations > 0
    targets = result.categories["filter.targets"]
    assert targets.violating_cases > 0 and targets.shrunk and targets.counterexample
    assert {"step_bound", "joint_limit"} & set(targets.violation_kinds)
    inputs = result.categories["filter.inputs"]
    assert {"acted_on_untrusted_state", "bad_output", "filter_raised"} & set(inputs.violation_kinds)


def _mutant(name: str):
    """A subtly broken SafetyFilter check: each must be caught by the campaign."""
    original = SafetyFilter.violations
    segment = SafetyFilter.segment_violations

    def no_radii(self, pts, extra=None):  # checks points, forgets their clearance radii
        radii, self._radii = self._radii, np.zeros_like(self._radii)
        try:
            return original(self, pts, extra)
        finally:
            self._radii = radii

    def no_zone_speed(self, q_a, q_b, pts_a, pts_b):
        bad, _ = segment(self, q_a, q_b, pts_a, pts_b)
        return [r for r in bad if r is not SafetyReason.ZONE_SPEED], 1.0

    def endpoints_only(self, q_a, q_b, pts_a, pts_b):  # before issue 20: the points, and the EE chord speed
        bad = original(self, pts_b)
        speed = float(np.linalg.norm(pts_b[self._ee] - pts_a[self._ee])) / self.cfg.arm.control_period_s
        inside = any(zone_sdf(sz.zone, p) <= 0 and speed > sz.max_speed_m_s
                     for sz in self.cfg.guardrails.speed_zones for p in (pts_a[self._ee], pts_b[self._ee]))
        return bad + ([SafetyReason.ZONE_SPEED] if inside else []), 1.0

    return {"no_radii": ("violations", no_radii), "no_zone_speed": ("segment_violations", no_zone_speed),
            "endpoints_only": ("segment_violations", endpoints_only)}[name]


SWEPT_KINDS = {"swept_keep_out", "swept_table", "swept_workspace", "swept_zone_speed"}


@pytest.mark.parametrize(("mutant", "kinds", "categories"), [
    ("no_radii", {"keep_out", "table", "swept_keep_out", "swept_table"}, ["filter.targets", "filter.closed_loop"]),
    ("no_zone_speed", {"zone_speed", "swept_zone_speed"}, ["filter.targets", "filter.closed_loop"]),
    ("endpoints_only", SWEPT_KINDS, ["filter.swept"]),
])
def test_subtly_broken_filters_are_caught(setup, monkeypatch, mutant, kinds, categories):
    method, broken = _mutant(mutant)
    monkeypatch.setattr(SafetyFilter, method, broken)
    result = run_campaign(setup, 600, seed=0, progress=False, shrink=False, categories=categories)
    found = {k for c in result.categories.values() for k in c.violation_kinds}
    assert result.violations > 0 and found <= kinds and found, found
    if mutant == "endpoints_only":  # the swept breaches are counted apart, and only they are found
        assert result.swept_breaches == result.violations


def test_swept_cases_pass_and_are_reported_apart(setup):
    result = run_campaign(setup, 600, seed=0, progress=False, shrink=False, categories=["filter.swept"])
    swept = result.categories["filter.swept"]
    assert swept.cases > 50 and result.violations == 0 and result.swept_breaches == 0
    assert swept.interventions["keep_out"] and swept.interventions["scaled_for_zone_speed"]
    assert result.to_json()["swept_breaches"] == 0


def test_a_filter_that_ignores_stale_stamps_is_caught(setup, monkeypatch):
    original = SafetyFilter.__init__

    def trusting(self, cfg=SafetyConfig(), robot=None):
        original(self, dataclasses.replace(cfg, max_obs_age_s=1e12), robot)

    monkeypatch.setattr(SafetyFilter, "__init__", trusting)
    result = run_campaign(setup, 300, seed=0, progress=False, shrink=False, categories=["filter.inputs"])
    assert set(result.categories["filter.inputs"].violation_kinds) == {"acted_on_untrusted_state"}


def test_planner_without_guardrails_is_caught_by_the_plan_check(setup, monkeypatch):
    monkeypatch.setattr(registry, "build_guardrails", lambda *args: [])
    result = run_campaign(setup, 100, seed=0, progress=False, mpc_fraction=0.5, categories=["mpc.goals"])
    goals = result.categories["mpc.goals"]
    assert goals.violating_cases > 0
    assert any(" plan: " in v for v in goals.counterexample_violations), goals.counterexample_violations


# ----------------------------------------------------------------------------------------- any arm


@pytest.mark.parametrize("name", OTHER_ARMS)
def test_defaults_for_another_arm_come_from_the_robot(name):
    """No --params: the description's limits, a workspace box from the reach that holds the home tool point, and
    no Panda checkpoint (a kinematic world model whose actions are the arm's joint steps)."""
    s = arm_setup(name)
    robot, g = s.robot, s.base_guardrails
    assert robot.dof == 6 and s.truth.dof == 6
    assert g.joint_lower is None and g.max_joint_vel_rad_s is None  # the robot's own limits
    tool = robot.tool_position(robot.home)
    assert np.all(tool > np.asarray(g.workspace_lo)) and np.all(tool < np.asarray(g.workspace_hi))
    r = robot.reach_m
    assert np.asarray(g.workspace_hi)[0] - np.asarray(g.workspace_lo)[0] == pytest.approx(1.4 * r, rel=0.05)
    assert isinstance(s.world_model, NullWorldModel) and s.world_model_label == "kinematic"
    assert s.action_dim == robot.dof and s.proprio_dim == 0
    assert "NullWorldModel" in s.checkpoint_name


def test_the_panda_checkpoint_is_refused_for_another_arm():
    with pytest.raises(ValueError, match="takes 8 actions"):
        CampaignSetup.build(arm_setup(OTHER_ARMS[0]).params, checkpoint=str(SHIPPED_CHECKPOINT))


@pytest.mark.parametrize("name", OTHER_ARMS)
def test_campaign_finds_no_violation_on_another_arm(name):
    result = run_campaign(arm_setup(name), 300, seed=0, progress=False, mpc_fraction=0.06)
    assert result.cases == 300 and result.violations == 0, [
        (c.name, c.counterexample_violations) for c in result.categories.values()
    ]
    assert result.errors == 0, [c.first_error for c in result.categories.values() if c.errors]
    cats = result.categories
    assert all(cats[n].cases >= 1 for n in CATEGORIES)
    seen = sum((c.interventions for c in cats.values()), start=type(cats["mpc.goals"].interventions)())
    for kind in ("clamped_step", "clamped_joint_limit", "keep_out", "workspace_exit", "table", "hold",
                 "stale_state", "bad_command_shape", "plan ok", "plan invalid_input"):
        assert seen[kind] > 0, kind
    assert result.to_json()["robot"] == name


def _sphere_blind(self, pts, extra=None):
    """A broken filter: keep-out zones are checked at the tool point only, not at the check spheres."""
    reasons = [r for r in _ORIGINAL_VIOLATIONS(self, pts, extra) if r is not SafetyReason.KEEP_OUT]
    ee = pts[..., self._ee, :].reshape(-1, 3)
    r_ee = self._radii[self._ee] + (0.0 if extra is None else extra[self._ee])
    if any(zone_sdf(z, p) < r_ee for z in self.cfg.guardrails.keep_out for p in ee):
        reasons.append(SafetyReason.KEEP_OUT)
    return reasons


def _table_blind(self, pts, extra=None):
    """A broken filter: it forgets the table."""
    return [r for r in _ORIGINAL_VIOLATIONS(self, pts, extra) if r is not SafetyReason.TABLE]


_ORIGINAL_VIOLATIONS = SafetyFilter.violations


def _high_table(s: CampaignSetup, gap_m: float = 0.03) -> CampaignSetup:
    """The same cell with the table raised to `gap_m` below the arm's lowest table-checked sphere at home (with the
    margin): a table the arm works close to. In the default cell a small arm rarely gets near the table, so a
    few hundred cases would seldom meet a table-blind filter there."""
    robot, g = s.robot, s.base_guardrails
    pts = s.truth.points(g, robot.home)
    checked = np.array([p.table_check for p in robot.check_points])
    radii = np.array([p.radius for p in robot.check_points])
    z = float(np.min(pts[checked, 2] - radii[checked])) - g.table_margin_m - gap_m
    high = dataclasses.replace(g, table_z_m=z)
    params = dataclasses.replace(s.params, safety=dataclasses.replace(s.params.safety, guardrails=high),
                                 planner_guardrails=high)
    return CampaignSetup.build(params)


@pytest.mark.parametrize(("mutant", "kind"), [(_sphere_blind, "keep_out"), (_table_blind, "table")],
                         ids=["sphere_blind_keep_out", "table_blind"])
@pytest.mark.parametrize("name", OTHER_ARMS)
def test_broken_filters_are_caught_on_another_arm(monkeypatch, name, mutant, kind):
    s = arm_setup(name) if kind == "keep_out" else _high_table(arm_setup(name))
    monkeypatch.setattr(SafetyFilter, "violations", mutant)
    result = run_campaign(s, 300, seed=0, progress=False, shrink=False,
                          categories=["filter.targets", "filter.closed_loop"])
    found = {k for c in result.categories.values() for k in c.violation_kinds}
    assert result.violations > 0 and kind in found and found <= {kind, f"swept_{kind}"}, found
    if kind == "keep_out":  # caught at a link's check sphere, not at the tool point
        first = next(c for c in result.categories.values() if c.violating_cases).counterexample_violations
        assert any("keep_out" in v and not v.split(": ")[-1].startswith("ee ") for v in first), first


def test_cli_runs_another_arm_from_its_file_without_params(tmp_path, capsys):
    """`--robot FILE` alone: the robot's defaults, exit 0, the robot in the report and the JSON."""
    path = load_robot(OTHER_ARMS[1]).description.source
    out = tmp_path / "report.json"
    code = main(["guardrail-test", "--robot", path, "--cases", "40", "--no-progress", "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text[-3000:]
    assert f"robot: {path} (6 joints" in text and "PASS: 0 violation(s) in 40 cases" in text
    report = json.loads(out.read_text())
    assert report["robot"] == path and report["passed"] and "NullWorldModel" in report["checkpoint"]


def test_cli_needs_params_or_robot(capsys):
    assert main(["guardrail-test", "--cases", "10", "--no-progress"]) == 2
    assert "--robot" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- the checker


@pytest.fixture(scope="module")
def truth(setup) -> GroundTruth:
    return setup.truth


@pytest.fixture(scope="module")
def home_q(setup) -> np.ndarray:
    return setup.robot.home.copy()


def _check(truth, cfg, q, targets, *, hold=False, stamp=0.0, now=0.0, q_reference=None):
    return sorted(
        {
            v.kind
            for v in truth.check_filter_call(
                cfg,
                q_measured=q,
                stamp_s=stamp,
                now_s=now,
                q_reference=q_reference,
                qd_reference=None,
                joint_targets=np.atleast_2d(np.asarray(targets, dtype=np.float64)).reshape(-1, truth.dof),
                gripper=None,
                hold=hold,
            )
            if not v.advisory
        }
    )


def test_checker_passes_the_real_filter_output(truth, home_q):
    cfg = SafetyConfig()
    command, report = SafetyFilter(cfg, truth.robot).filter(home_q + 0.3, home_q, 0.0, 0.0)
    assert not report.hold
    assert _check(truth, cfg, home_q, command.joint_targets) == []


def test_checker_flags_each_guardrail(truth, home_q):
    cfg = SafetyConfig()
    assert "step_bound" in _check(truth, cfg, home_q, home_q + 0.06)
    at_limit = home_q.copy()
    _, upper = truth.limits(cfg.guardrails)
    at_limit[3] = upper[3] - 0.01
    assert "joint_limit" in _check(truth, cfg, at_limit, at_limit + np.r_[0, 0, 0, 0.02, 0, 0, 0])
    ee = truth.ee(cfg.guardrails, home_q)
    small = home_q + np.r_[0.0, 0.02, 0, 0, 0, 0, 0]
    for g, kind in (
        (GuardrailConfig(keep_out=(SphereZone(tuple(ee), 0.05),)), "keep_out"),
        (GuardrailConfig(workspace_hi=(float(ee[0]) - 0.01, 0.8, 1.2)), "workspace"),
        (GuardrailConfig(table_z_m=float(ee[2])), "table"),
        (GuardrailConfig(speed_zones=(SpeedZone(SphereZone(tuple(ee), 0.2), 0.0),)), "zone_speed"),
    ):
        assert kind in _check(truth, SafetyConfig(guardrails=g), home_q, small), kind
    assert _check(truth, cfg, home_q, small, hold=True) == ["hold_moved"]
    assert _check(truth, cfg, home_q, home_q, hold=True) == []
    assert _check(truth, cfg, home_q, home_q, now=10.0) == ["acted_on_untrusted_state"]  # stale
    assert _check(truth, cfg, [math.nan] * 7, home_q) == ["acted_on_untrusted_state"]
    assert _check(truth, cfg, home_q, np.zeros((0, 7)), now=10.0) == ["acted_on_untrusted_state"]  # no hold
    # Steps start at a trusted reference: from there the same target is a legal step.
    assert _check(truth, cfg, home_q, home_q + 0.06, q_reference=home_q + 0.03) == []


def test_checker_accepts_either_side_of_a_zone_surface(truth, home_q):
    """Found by the campaign (shrunk): the EE starts exactly on a slow zone's surface (sdf = +3e-17 after
    rounding) and leaves it. Whether that start is inside is decided by float rounding, not by safety."""
    ee = truth.ee(GuardrailConfig(), home_q)
    zone = SpeedZone(SphereZone((float(ee[0]) + 0.03, float(ee[1]), float(ee[2])), 0.03), 0.0)
    cfg = SafetyConfig(guardrails=GuardrailConfig(speed_zones=(zone,)))
    target = home_q.copy()
    target[4] = 1.0
    command, report = SafetyFilter(cfg, truth.robot).filter(target, home_q, 0.0, 0.0)
    assert not report.hold
    assert _check(truth, cfg, home_q, command.joint_targets) == []
    inside = SpeedZone(SphereZone(zone.zone.center, 0.031), 0.0)  # clearly inside: the speed limit applies
    strict = SafetyConfig(guardrails=GuardrailConfig(speed_zones=(inside,)))
    moved = home_q.copy()
    moved[4] += 0.05  # (the filter itself now slows the step to the zone's 0 m/s: its sweep touches the zone)
    assert "zone_speed" in _check(truth, strict, home_q, moved[None])


def test_checker_checks_plans_with_the_arm_action_semantics(truth, home_q):
    arm = SafetyConfig().arm

    def kinds(g, actions):
        return {v.kind for v in truth.check_plan(g, arm, home_q, actions, None)}

    fast = np.zeros((3, 8))
    fast[:, 0] = 1.0  # joint 1 at 0.5 rad/s from rest: 5 rad/s^2, within 15
    assert kinds(GuardrailConfig(), fast) == set()
    assert kinds(GuardrailConfig(max_joint_vel_rad_s=(0.3,) * 7), fast) == {"joint_velocity"}
    flip = np.zeros((2, 8))
    flip[0, 1], flip[1, 1] = 1.0, -1.0  # joint 2 reverses at full speed: 10 rad/s^2 > 7.5
    assert kinds(GuardrailConfig(), flip) == {"joint_acceleration"}
    assert kinds(GuardrailConfig(), np.full((2, 8), np.nan)) == {"non_finite_plan"}


# ---------------------------------------------------------------------------------- parameter files


def test_node_parameters_merges_wildcard_and_node_blocks_in_file_order():
    doc = {
        "/**": {"ros__parameters": {"guardrails": {"table_z_m": 0.1, "workspace_lo": [0, 0, 0]}}},
        "/ns/safety_filter": {"ros__parameters": {"guardrails": {"table_z_m": 0.2}, "max_step_rad": 0.02}},
        "mpc": {"ros__parameters": {"horizon": 5}},
    }
    values, own = node_parameters(doc, "safety_filter")
    assert values == {
        "guardrails.table_z_m": 0.2,
        "guardrails.workspace_lo": [0, 0, 0],
        "max_step_rad": 0.02,
    }
    assert own == {"guardrails.table_z_m": 0.2, "max_step_rad": 0.02}
    assert node_parameters(doc, "mpc")[0] == {
        "guardrails.table_z_m": 0.1,
        "guardrails.workspace_lo": [0, 0, 0],
        "horizon": 5,
    }


@pytest.mark.ros
def test_loads_the_sim_and_real_parameter_files():
    pytest.importorskip("rclpy")
    from jepa_mpc.apps.guardrail_campaign import load_params
    from jepa_mpc.ros_nodes.params import build
    from jepa_mpc.ros_nodes.safety_filter_node import SafetyFilterNodeConfig

    sim = load_params(LAUNCH / "sim_arm.yaml")
    assert sim.safety.max_obs_age_s == 0.2 and sim.safety.arm.max_joint_step_rad == 0.05
    assert sim.safety.guardrails == GuardrailConfig() == sim.planner_guardrails
    import yaml

    in_file = yaml.safe_load((LAUNCH / "sim_arm.yaml").read_text())["mpc"]["ros__parameters"]["num_samples"]
    assert sim.checkpoint == "" and sim.mpc.cem.num_samples == in_file and sim.warnings == ()

    real = load_params(LAUNCH / "real_arm.yaml")
    g = real.safety.guardrails
    assert g.keep_out == (SphereZone((0.4, 0.6, 0.5), 0.35),)
    assert g.speed_zones == (SpeedZone(SphereZone((0.5, 0.0, 0.2), 0.15), 0.05),)
    assert (g.workspace_lo, g.workspace_hi) == ((0.2, -0.5, 0.02), (0.8, 0.5, 0.7))
    assert (g.table_margin_m, g.joint_margin_rad) == (0.03, 0.05)
    assert real.planner_guardrails == g
    assert real.safety.arm.max_joint_step_rad == 0.03 and real.mpc.arm.max_joint_step_rad == 0.05
    # Exactly what the safety_filter node builds from the same values.
    import yaml

    doc = yaml.safe_load((LAUNCH / "real_arm.yaml").read_text())
    assert real.safety == build(SafetyFilterNodeConfig, node_parameters(doc, "safety_filter")[0]).safety_config()


@pytest.mark.ros
def test_loader_warns_about_typos_and_rejects_bad_values(tmp_path):
    pytest.importorskip("rclpy")
    from jepa_mpc.apps.guardrail_campaign import load_params

    typo = tmp_path / "typo.yaml"
    typo.write_text(
        "/**:\n  ros__parameters:\n    guardrails:\n      keep_out_sphere: [0.5, 0.0, 0.3, 0.1]\n"
        "safety_filter:\n  ros__parameters:\n    guardrails:\n      table_z_m: 0.1\n"
    )
    params = load_params(typo)
    assert any("keep_out_sphere" in w for w in params.warnings)
    assert params.safety.guardrails.keep_out == () and params.safety.guardrails.table_z_m == 0.1
    assert params.planner_guardrails.table_z_m == 0.0  # the node override applies to the filter only
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**:\n  ros__parameters:\n    guardrails:\n      keep_out_spheres: [0.5, 0.0, 0.3]\n")
    with pytest.raises(ValueError, match="keep_out_spheres"):
        load_params(bad)


@pytest.mark.ros
def test_loader_takes_the_robot_from_robot_description(tmp_path):
    """The nodes' robot_description parameter (safety_filter's, else mpc's) names the arm; --robot overrides it."""
    pytest.importorskip("rclpy")
    from jepa_mpc.apps.guardrail_campaign import load_params

    cell = tmp_path / "cell.yaml"
    cell.write_text(f"safety_filter:\n  ros__parameters:\n    robot_description: {OTHER_ARMS[0]}\n"
                    "mpc:\n  ros__parameters:\n    horizon: 5\n")
    params = load_params(cell)
    assert load_robot(params.robot).name == OTHER_ARMS[0]
    assert not any("robot_description" in w for w in params.warnings), params.warnings
    assert CampaignSetup.build(params).world_model_label == "kinematic"
    panda = load_params(cell, robot="panda")
    assert load_robot(panda.robot).name == "panda"
    assert any("overridden" in w for w in panda.warnings)
    assert load_robot(load_params(LAUNCH / "sim_arm.yaml").robot).name == "panda"  # none in the file: the Panda


# ----------------------------------------------------------------------------------------------- CLI


@pytest.mark.ros
def test_cli_exits_nonzero_and_prints_a_counterexample_with_a_broken_filter(monkeypatch, tmp_path, capsys):
    pytest.importorskip("rclpy")
    assert SUBCOMMANDS["guardrail-test"][0] == "jepa_mpc.apps.guardrail_campaign.cli"
    monkeypatch.setattr(SafetyFilter, "filter", _passthrough)
    out = tmp_path / "report.json"
    code = main(
        [
            "guardrail-test",
            "--params",
            str(LAUNCH / "real_arm.yaml"),
            "--cases",
            "60",
            "--no-progress",
            "--json",
            str(out),
        ]
    )
    assert code == 1
    text = capsys.readouterr().out
    assert "counterexample (shrunk by hypothesis)" in text and "FAIL:" in text
    report = json.loads(out.read_text())
    assert report["passed"] is False and report["violations"] > 0 and report["cases"] == 60


@pytest.mark.ros
def test_cli_rejects_a_bad_parameter_file(tmp_path, capsys):
    pytest.importorskip("rclpy")
    bad = tmp_path / "bad.yaml"
    bad.write_text("safety_filter:\n  ros__parameters:\n    max_step_rad: -1.0\n")
    assert main(["guardrail-test", "--params", str(bad), "--cases", "10", "--no-progress"]) == 2
    assert "max_step_rad" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.ros
def test_ci_campaign_10k_cases_no_violation(tmp_path, capsys):
    """The CI campaign: 10k fixed-seed cases against the shipped sim parameters, < 3 min on 2 cores."""
    pytest.importorskip("rclpy")
    out = tmp_path / "campaign.json"
    start = time.monotonic()
    code = main(
        [
            "guardrail-test",
            "--params",
            str(LAUNCH / "sim_arm.yaml"),
            "--cases",
            "10000",
            "--seed",
            "0",
            "--no-progress",
            "--json",
            str(out),
        ]
    )
    elapsed = time.monotonic() - start
    report = json.loads(out.read_text())
    print(f"10k-case campaign: {elapsed:.1f} s wall, {report['seconds']} s in the campaign")
    assert code == 0, capsys.readouterr().out[-4000:]
    assert report["cases"] >= 10_000 and report["violations"] == 0 and report["passed"]
    assert report["split"]["mpc"] == 300
    # Its duration is printed above (a figure for the CI log), not asserted: timing is no unit-test property.
