"""Property tests: whatever the cost landscape (random, adversarial), the guardrails (random zones and
limits) or the predictor (NaN, inf, huge), an OK plan and the filtered command never violate a guardrail.
Checked with MuJoCo's own kinematics and the simulator's action semantics, not with the planner's
code."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jepa_mpc.planner.config import (
    BoxZone,
    CEMConfig,
    CostConfig,
    GradientConfig,
    GuardrailConfig,
    MPCConfig,
    SpeedZone,
    SphereZone,
)
from jepa_mpc.planner.kinematics import ArmKinematics
from jepa_mpc.planner.mpc import Observation, RecedingHorizonMPC

from .conftest import GarbageWorldModel, JointWorldModel

H = 4
IMAGE = np.zeros((4, 4, 3), dtype=np.uint8)
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _mpc_config(optimizer: str, seed: int) -> MPCConfig:
    return MPCConfig(
        optimizer=optimizer,
        horizon=H,
        device="cpu",
        max_retries=1,
        command_steps=2,
        cem=CEMConfig(num_samples=32, iterations=2, num_elites=4, seed=seed),
        gradient=GradientConfig(steps=3, num_candidates=2, lr=0.3, seed=seed),
    )


def _guardrails(draw) -> GuardrailConfig:
    xyz = st.tuples(st.floats(0.2, 0.8), st.floats(-0.5, 0.5), st.floats(0.0, 0.8))
    sphere = st.builds(SphereZone, xyz, st.floats(0.03, 0.25))
    box = xyz.flatmap(
        lambda lo: st.tuples(st.floats(0.05, 0.4), st.floats(0.05, 0.4), st.floats(0.05, 0.4)).map(
            lambda size: BoxZone(lo, tuple(a + s for a, s in zip(lo, size, strict=True)))
        )
    )
    margin = draw(st.floats(0.0, 0.3), label="joint margin")
    return GuardrailConfig(
        joint_margin_rad=margin,
        max_joint_vel_rad_s=tuple(
            draw(st.lists(st.floats(0.05, 0.6), min_size=7, max_size=7), label="vel")
        ),
        max_joint_acc_rad_s2=tuple(
            draw(st.lists(st.floats(0.5, 15.0), min_size=7, max_size=7), label="acc")
        ),
        workspace_lo=(
            draw(st.floats(-0.3, 0.45)),
            draw(st.floats(-0.8, -0.05)),
            draw(st.floats(0.0, 0.25)),
        ),
        workspace_hi=(
            draw(st.floats(0.55, 0.9)),
            draw(st.floats(0.05, 0.8)),
            draw(st.floats(0.35, 1.2)),
        ),
        keep_out=tuple(draw(st.lists(st.one_of(sphere, box), max_size=3), label="keep_out")),
        table_z_m=draw(st.floats(-0.05, 0.2), label="table"),
        speed_zones=tuple(
            draw(
                st.lists(st.builds(SpeedZone, st.one_of(sphere, box), st.floats(0.0, 0.3)), max_size=2),
                label="speed zones",
            )
        ),
    )


def _check_tick(result, g, q0, truth) -> None:
    """The OK plan (all H steps, with accelerations) and whatever was sent must pass the ground truth."""
    event(f"{result.plan.status.value}, {'hold' if result.command.hold else 'sent'}")
    if result.plan.ok:
        targets = truth.targets(q0, result.plan.actions.double().numpy())
        assert truth.violations(g, q0, targets) == [], result.plan
    sent = result.command.joint_targets
    if len(sent) and not result.command.hold:
        assert truth.violations(g, q0, sent, check_acc=False) == []


def _critic(kind: str, params: np.ndarray, zone_center: np.ndarray, kin: ArmKinematics):
    """Cost landscapes over the joint-target latent z [N, 8]; the adversarial ones pull against the
    guardrails.
    """
    c = torch.as_tensor(params, dtype=torch.float32)
    center = torch.as_tensor(zone_center, dtype=torch.float32)
    if kind == "quadratic":
        return lambda z: ((z[:, :7] - c[:7]) ** 2 * c[7:].abs()[:, None].T).sum(-1)
    if kind == "multimodal":
        return lambda z: torch.sin(5 * z[:, :7] * c[:7]).sum(-1)
    if kind == "into_zone":  # pull the end effector into the first keep-out zone
        return lambda z: 10 * torch.linalg.vector_norm(kin.forward(z[:, :7])[:, 0] - center, dim=-1)
    return lambda z: -100 * (z[:, :7] - c[:7]).abs().sum(-1)  # "flail": reward large, fast joint motion


@SETTINGS
@given(data=st.data())
def test_property_plans_and_commands_respect_random_guardrails(mj_model, home_q, truth, data):
    g = _guardrails(data.draw)
    q0 = home_q + np.array(
        data.draw(st.lists(st.floats(-0.2, 0.2), min_size=7, max_size=7), label="dq0")
    )
    kind = data.draw(st.sampled_from(["quadratic", "multimodal", "into_zone", "flail"]), label="critic")
    params = np.array(
        data.draw(st.lists(st.floats(-2.0, 2.0), min_size=14, max_size=14), label="params")
    )
    center = np.asarray(
        g.keep_out[0].center if g.keep_out and isinstance(g.keep_out[0], SphereZone) else [0.5, 0.0, 0.2]
    )
    kin = ArmKinematics(mj_model, g.check_points)
    optimizer = data.draw(st.sampled_from(["cem", "gradient", "hybrid"]), label="optimizer")
    mpc = RecedingHorizonMPC.build(
        JointWorldModel(),
        _mpc_config(optimizer, data.draw(st.integers(0, 99))),
        CostConfig(terms=("critic", "pose_fk"), pose_fk_weight=data.draw(st.floats(0.0, 5.0))),
        g,
        critic=_critic(kind, params, center, kin),
        model=mj_model,
    )
    mpc.set_goal(
        ee_goal=data.draw(st.tuples(st.floats(0.0, 0.9), st.floats(-0.6, 0.6), st.floats(-0.2, 0.9)))
    )
    z0 = np.concatenate([q0, [1.0]]).astype(np.float32)
    result = mpc.step(Observation(IMAGE, q0, 0.0, proprio=z0, q_target=q0), now_s=0.0)
    _check_tick(result, g, q0, truth)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mode=st.sampled_from(["nan", "inf", "-inf", "huge", "mixed", "mixed", "mixed"]),
    optimizer=st.sampled_from(["cem", "gradient", "hybrid"]),
    zone=st.builds(
        SphereZone,
        st.tuples(st.floats(0.3, 0.7), st.floats(-0.3, 0.3), st.floats(0.1, 0.5)),
        st.floats(0.03, 0.15),
    ),
    seed=st.integers(0, 99),
)
def test_property_garbage_predictor_never_yields_a_violating_plan(
    mj_model, home_q, truth, mode, optimizer, zone, seed
):
    g = GuardrailConfig(keep_out=(zone,), max_joint_vel_rad_s=(0.3,) * 7)
    mpc = RecedingHorizonMPC.build(
        GarbageWorldModel(mode),
        _mpc_config(optimizer, seed),
        CostConfig(terms=("goal_energy", "action_rate")),
        g,
        model=mj_model,
    )
    mpc.set_goal(z_goal=torch.zeros(6))
    result = mpc.step(Observation(IMAGE, home_q, 0.0, q_target=home_q), now_s=0.0)
    assert torch.isfinite(result.plan.actions).all()
    _check_tick(result, g, home_q, truth)
