"""Every registered cost term and guardrail keeps the shared contract: per-sample output [K], finite for
finite input, zero violation exactly when feasible, and differentiable in the actions."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from jepa_mpc.planner.config import BoxZone, CostConfig, GuardrailConfig, SpeedZone, SphereZone
from jepa_mpc.planner.registry import COSTS, GUARDRAILS, CostDeps, build_cost
from jepa_mpc.planner.rollout import RolloutBuilder
from jepa_mpc.planner.types import PlanContext
from jepa_mpc.robots.arm_control import ArmControlConfig

from .conftest import ARMS, LinearWorldModel

K, H = 16, 5
GUARDS = GuardrailConfig(
    keep_out=(SphereZone((0.5, 0.3, 0.3), 0.1), BoxZone((0.6, -0.1, 0.0), (0.8, 0.1, 0.4))),
    speed_zones=(SpeedZone(SphereZone((0.5, 0.0, 0.3), 0.2), 0.1),),
)


@pytest.fixture
def rollout_and_ctx(robot):
    """(kinematics, rollout, ctx, actions) of K random plans from the arm's home pose (J joints + gripper)."""
    kin = robot.kinematics()
    a = robot.dof + 1
    model = LinearWorldModel(latent_dim=6, action_dim=a)
    actions = (torch.rand(K, H, a, generator=torch.Generator().manual_seed(0)) * 2 - 1).requires_grad_(True)
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
    kin, rollout, ctx, actions = rollout_and_ctx
    constraint = GUARDRAILS[name](GUARDS, GUARDS.for_robot(robot), kin)
    assert constraint is not None and constraint.name == name
    feasible, violation = constraint(rollout, ctx)
    assert feasible.shape == violation.shape == (K,) and feasible.dtype == torch.bool
    assert torch.isfinite(violation).all() and (violation >= 0).all()
    assert torch.equal(feasible, violation == 0)
    (grad,) = torch.autograd.grad(violation.sum(), actions, retain_graph=True, allow_unused=True)
    assert grad is None or torch.isfinite(grad).all()


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
