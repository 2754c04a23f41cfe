"""Every registered cost term and guardrail keeps the shared contract: per-sample output [K], finite for
finite input, zero violation exactly when feasible, and differentiable in the actions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from jepa_mpc.planner.config import BoxZone, CostConfig, GuardrailConfig, SpeedZone, SphereZone
from jepa_mpc.planner.registry import COSTS, GUARDRAILS, CostDeps, build_cost
from jepa_mpc.planner.rollout import RolloutBuilder
from jepa_mpc.planner.types import PlanContext
from jepa_mpc.robots.arm_control import ArmControlConfig

from .conftest import ARMS, LinearWorldModel, truth_for, zone_ahead

K, H = 16, 5


def _firing_guards(robot) -> GuardrailConfig:
    """Guardrails tight around the arm's home pose, so that standing still is feasible for every one of them and
    the larger random plans break every one of them (by MuJoCo truth, tests/planner/conftest.py)."""
    truth = truth_for(robot)
    home = np.asarray(robot.home, dtype=np.float64)
    ee = truth.ee(home)
    lower, upper = truth.limits(GuardrailConfig(joint_margin_rad=0.0))
    pts = truth.points(home)
    table_clear = float(np.min((pts[:, 2] - truth.radii)[truth.table]))
    return GuardrailConfig(
        joint_lower=tuple(np.maximum(home - 0.1, lower)), joint_upper=tuple(np.minimum(home + 0.1, upper)),
        joint_margin_rad=0.0,
        max_joint_vel_rad_s=(0.3,) * robot.dof, max_joint_acc_rad_s2=(3.0,) * robot.dof,
        workspace_lo=tuple(ee - 0.02), workspace_hi=tuple(ee + 0.02),
        keep_out=(zone_ahead(truth, home, (0.12, 0.0, 0.0), 0.005), BoxZone(tuple(ee + [-0.05, -0.05, -0.2]),
                                                                           tuple(ee + [0.05, 0.05, -0.12]))),
        table_z_m=table_clear - 0.01 - 0.003, table_margin_m=0.01,
        speed_zones=(SpeedZone(SphereZone(tuple(ee), 0.1), 0.02),),
    )


@pytest.fixture
def rollout_and_ctx(robot):
    """(kinematics, rollout, ctx, actions) of K plans from the arm's home pose (J joints + gripper): random
    directions scaled from 0 (standing still) to full actions."""
    kin = robot.kinematics()
    a = robot.dof + 1
    model = LinearWorldModel(latent_dim=6, action_dim=a)
    scale = torch.linspace(0.0, 1.0, K)[:, None, None]
    actions = ((torch.rand(K, H, a, generator=torch.Generator().manual_seed(0)) * 2 - 1) * scale).requires_grad_(True)
    ctx = PlanContext(
        z0=torch.zeros(6),
        q0=torch.as_tensor(robot.home, dtype=torch.float32),
        qd0=torch.zeros(robot.dof),
        z_goal=torch.ones(6),
        ee_goal=torch.tensor([0.5, 0.0, 0.2]),
        prev_action=torch.zeros(a),
    )
    return kin, RolloutBuilder(model.rollout, kin, ArmControlConfig())(actions, ctx), ctx, actions


@ARMS
@pytest.mark.parametrize("name", sorted(COSTS))
def test_every_cost_term(robot, rollout_and_ctx, name):
    kin, rollout, ctx, actions = rollout_and_ctx
    deps = CostDeps(ee_index=kin.index("ee"), dof=robot.dof, probe=lambda z: z[:, :3],
                    critic=lambda z: (z**2).sum(-1), cube_probe=lambda z: z[:, 3:6])
    cost = build_cost(name, CostConfig(), deps)
    assert cost.name == name and cost.requires <= ctx.goals()
    out = cost(rollout, ctx)
    assert out.shape == (K,) and torch.isfinite(out).all()
    (grad,) = torch.autograd.grad(out.sum(), actions, retain_graph=True)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@ARMS
@pytest.mark.parametrize("name", sorted(GUARDRAILS))
def test_every_guardrail(robot, rollout_and_ctx, name):
    """Each guardrail fires on this fixture (standing still passes, some larger plans do not), zero violation
    exactly when feasible, and the violation has a finite, non-zero gradient in the actions of every infeasible
    plan: the penalty the gradient planner descends (planner/guardrails.py)."""
    kin, rollout, ctx, actions = rollout_and_ctx
    guards = _firing_guards(robot)
    constraint = GUARDRAILS[name](guards, guards.for_robot(robot), kin)
    assert constraint is not None and constraint.name == name
    feasible, violation = constraint(rollout, ctx)
    assert feasible.shape == violation.shape == (K,) and feasible.dtype == torch.bool
    assert torch.isfinite(violation).all() and (violation >= 0).all()
    assert torch.equal(feasible, violation == 0)
    assert feasible[0], "standing still breaks no guardrail"
    assert (~feasible).sum() >= 3, f"{name} never fires on the fixture: {violation}"
    (grad,) = torch.autograd.grad(violation.sum(), actions, retain_graph=True, allow_unused=True)
    assert grad is not None and torch.isfinite(grad).all()
    per_plan = grad.abs().sum(dim=(1, 2))
    assert (per_plan[~feasible] > 0).all(), f"{name}: an infeasible plan has no gradient to descend"


def test_guardrails_without_zones_are_skipped(panda):
    kin, limits = panda.kinematics(), GuardrailConfig().for_robot(panda)
    assert GUARDRAILS["keep_out"](GuardrailConfig(), limits, kin) is None
    assert GUARDRAILS["zone_speed"](GuardrailConfig(), limits, kin) is None


def test_planner_imports_without_ros_concrete_models_or_the_sim():
    """The planner reaches world models through planner.protocols only: of models/ it loads just the shared
    device helper (models/device.py), no model class; nothing of the sim or ROS."""
    code = (
        "import sys; sys.modules['rclpy'] = None; "
        "import jepa_mpc.planner.mpc, jepa_mpc.planner.bench; "
        "bad = [m for m, mod in sys.modules.items() if mod is not None and m.split('.')[0] == 'rclpy' "
        "or m.startswith(('jepa_mpc.models', 'jepa_mpc.sim')) and m not in ('jepa_mpc.models', "
        "'jepa_mpc.models.device')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_host_sync_calls_inside_the_solver_loops():
    """The iteration loops must not call .item(), .cpu(), .numpy(), .tolist(), float() or numpy."""
    import inspect

    from jepa_mpc.planner import cem, gradient

    for module, loop_start in ((cem, "for it in range"), (gradient, "for step in range")):
        source = inspect.getsource(module)
        loop = source[source.index(loop_start) : source.index("# End of the solve")]
        for call in (".item()", ".cpu()", ".numpy()", ".tolist()", "float(", "bool(", "np."):
            assert call not in loop, (module.__name__, call)
