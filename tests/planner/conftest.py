"""Planner test fixtures: fake world models with injectable dynamics, the arms (`Robot`s) the planner is tested
on, and an independent ground-truth guardrail checker (the arm's action semantics + MuJoCo's mj_kinematics of
the Robot's model, sharing no code with planner/ or robots/kinematics.py)."""

from __future__ import annotations

import functools
import math

import mujoco
import numpy as np
import pytest
import torch

from jepa_mpc.planner.config import BoxZone, GuardrailConfig, SphereZone
from jepa_mpc.robots import TOOL_POINT, Robot, load_robot
from jepa_mpc.robots.arm_control import ArmControlConfig, next_joint_targets
from jepa_mpc.robots.panda import DOF as PANDA_DOF
from jepa_mpc.robots.panda import HOME_QPOS

PANDA = "panda"
XARM6 = "pybullet_data:xarm/xarm6_robot.urdf"
"""The second arm of the arm-dependent tests: a URDF (the Panda is an MJCF), six joints, no gripper entry."""
ARMS = pytest.mark.parametrize("robot", [PANDA, XARM6], ids=["panda", "xarm6"], indirect=True)
"""Parametrise a test over both arms (it takes the `robot` fixture)."""


@functools.cache
def load_arm(name: str) -> Robot:
    """load_robot, once per name."""
    return load_robot(name)


@pytest.fixture(scope="session")
def panda() -> Robot:
    return load_arm(PANDA)


@pytest.fixture(scope="session")
def robot(request) -> Robot:
    """The arm a test is parametrised with (ARMS), the Panda when it is not."""
    return load_arm(getattr(request, "param", PANDA))


class LinearWorldModel:
    """z_{t+1} = z_t + B a_t. encode returns proprio (or zeros), so tests set z0 directly."""

    def __init__(self, latent_dim: int = 6, action_dim: int = 8, seed: int = 0) -> None:
        self.latent_dim, self.action_dim = latent_dim, action_dim
        g = torch.Generator().manual_seed(seed)
        self.B = torch.randn(latent_dim, action_dim, generator=g) * 0.2  # [D, A]

    def encode(self, image: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        if proprio is not None:
            return proprio.float()
        return torch.zeros(image.shape[0], self.latent_dim, device=image.device)

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return z0[:, None] + torch.cumsum(actions @ self.B.T.to(actions), dim=1)  # [B, H, D]


class JointWorldModel:
    """Latent = commanded joint targets (J) + gripper action: lets a critic be adversarial in joint space."""

    def __init__(self, dof: int = PANDA_DOF, step_rad: float = ArmControlConfig().max_joint_step_rad) -> None:
        self.dof, self.step = dof, step_rad
        self.latent_dim = self.action_dim = dof + 1

    def encode(self, image: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        assert proprio is not None
        return proprio.float()

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        j = self.dof
        q = z0[:, None, :j] + torch.cumsum(actions[..., :j].clamp(-1, 1) * self.step, dim=1)
        return torch.cat([q, actions[..., j:]], dim=-1)  # [B, H, J + 1]


class GarbageWorldModel:
    """Returns NaN, inf, huge or random-huge latents (or mixes them per sample)."""

    latent_dim = 6

    def __init__(self, mode: str, action_dim: int = PANDA_DOF + 1) -> None:
        self.mode, self.action_dim = mode, action_dim

    def encode(self, image: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        return torch.zeros(image.shape[0], self.latent_dim)

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        shape = (*actions.shape[:2], self.latent_dim)
        values = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "huge": 1e30}
        if self.mode in values:
            return torch.full(shape, values[self.mode]) + 0 * actions.sum()
        # "mixed": decided by each sample's first action, so a plan re-evaluated alone gets the same
        # garbage:
        # NaN, inf, 1e30 or a large finite value that still depends on the actions.
        a0 = actions[:, :1, :1]  # [B, 1, 1]
        z = (actions.sum(-1, keepdim=True) * 1e3).expand(shape)
        z = torch.where(a0 > 0.3, torch.full_like(z, math.nan), z)
        z = torch.where(a0 < -0.3, torch.full_like(z, math.inf), z)
        return torch.where((a0 > 0.1) & (a0 <= 0.3), torch.full_like(z, 1e30), z)


# Toy problem with a known optimum: z' = z + 0.2 a (D = A = 8), H = 4, cost = mean_d (z_H - g)^2 + LAMBDA
# mean(a^2).
# With LAMBDA = 0.16 the optimum is a_t = g for every t (per dim: d/da [(0.8a - g)^2 + 0.16 a^2] / 8 = 0
# -> a = g),
# with cost 0.025 sum(g^2); doing nothing costs 0.125 sum(g^2).
GOAL = np.array([0.3, -0.2, 0.1, 0.25, -0.1, 0.2, 0.15, 0.5])
LAMBDA = 0.16
OPTIMUM = 0.025 * float(np.sum(GOAL**2))
AT_ZERO = 0.125 * float(np.sum(GOAL**2))


@pytest.fixture
def toy(build_problem, make_ctx, home_q):
    """(PlanProblem, PlanContext) of the toy problem, from the home pose."""
    from jepa_mpc.planner.config import CostConfig

    model = LinearWorldModel(latent_dim=8, action_dim=8)
    model.B = 0.2 * torch.eye(8)
    costs = CostConfig(terms=("goal_energy", "action_magnitude"), action_magnitude_weight=LAMBDA)
    return build_problem(model, costs), make_ctx(np.zeros(8), home_q, z_goal=GOAL)


@pytest.fixture
def linear_model() -> LinearWorldModel:
    return LinearWorldModel()


@pytest.fixture
def joint_model() -> JointWorldModel:
    return JointWorldModel()


@pytest.fixture
def garbage_model():
    return GarbageWorldModel


@pytest.fixture(scope="session")
def home_q() -> np.ndarray:
    """The Panda's home pose (robots/panda.py)."""
    return HOME_QPOS.copy()


def _sdf(zone, p: np.ndarray) -> float:
    if isinstance(zone, SphereZone):
        return float(np.linalg.norm(p - np.asarray(zone.center)) - zone.radius)
    lo, hi = np.asarray(zone.lo), np.asarray(zone.hi)
    excess = np.abs(p - (lo + hi) / 2) - (hi - lo) / 2
    return float(np.linalg.norm(np.maximum(excess, 0)) + min(excess.max(), 0.0))


class TruthChecker:
    """Independent guardrail check of one Robot with MuJoCo's own kinematics (the code under test is not used).

    From the Robot it reads only data: its MjModel, arm joint names, check points (tool point first, radii,
    table flags) and limits; the guardrail configuration is interpreted here from its documented meaning.
    """

    def __init__(self, robot: Robot) -> None:
        self.robot = robot
        self.model, self.data = robot.model, mujoco.MjData(robot.model)
        self.adr = [self.model.joint(n).qposadr[0] for n in robot.model_joint_names]
        self.dof_adr = [self.model.joint(n).dofadr[0] for n in robot.model_joint_names]
        ranges = np.array([self.model.joint(n).range for n in robot.model_joint_names], dtype=np.float64)
        self.mjcf_lower, self.mjcf_upper = ranges[:, 0].copy(), ranges[:, 1].copy()
        self.dof = len(self.adr)
        self.check_points = robot.check_points
        self.radii = np.array([p.radius for p in self.check_points])
        self.table = np.array([p.table_check for p in self.check_points])
        self.ee_index = [p.name for p in self.check_points].index(TOOL_POINT)
        self.home = np.asarray(robot.home, dtype=np.float64).copy()

    def points(self, q: np.ndarray) -> np.ndarray:
        """World positions [P, 3] of the robot's check points at arm joints q [J]."""
        self.data.qpos[:] = self.model.qpos0
        self.data.qpos[self.adr] = q
        mujoco.mj_kinematics(self.model, self.data)
        out = []
        for p in self.check_points:
            site = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, p.frame)
            if site >= 0:
                pos, mat = self.data.site_xpos[site], self.data.site_xmat[site]
            else:
                body = self.model.body(p.frame).id
                pos, mat = self.data.xpos[body], self.data.xmat[body]
            out.append(pos + mat.reshape(3, 3) @ np.asarray(p.offset))
        return np.array(out)

    def ee(self, q: np.ndarray) -> np.ndarray:
        """Tool point position [3]."""
        return self.points(q)[self.ee_index]

    def limits(self, g: GuardrailConfig) -> tuple[np.ndarray, np.ndarray]:
        """Effective joint limits [J]: the description's range within the configured one, minus the margin."""
        lower, upper = self.mjcf_lower.copy(), self.mjcf_upper.copy()
        if g.joint_lower is not None:
            lower = np.maximum(lower, g.joint_lower)
        if g.joint_upper is not None:
            upper = np.minimum(upper, g.joint_upper)
        return lower + g.joint_margin_rad, upper - g.joint_margin_rad

    def max_velocity(self, g: GuardrailConfig) -> np.ndarray:
        return np.asarray(g.max_joint_vel_rad_s if g.max_joint_vel_rad_s is not None else self.robot.max_velocity)

    def max_acceleration(self, g: GuardrailConfig) -> np.ndarray:
        return np.asarray(g.max_joint_acc_rad_s2 if g.max_joint_acc_rad_s2 is not None
                          else self.robot.max_acceleration)

    def targets(
        self, q0: np.ndarray, actions: np.ndarray, arm: ArmControlConfig = ArmControlConfig()
    ) -> np.ndarray:
        """Joint targets q_1..q_T [T, J] commanded by actions [T, A] (the arm's own action semantics)."""
        out, q = [], np.asarray(q0, dtype=np.float64)
        for a in actions:
            q = next_joint_targets(q, a, self.mjcf_lower, self.mjcf_upper, arm)
            out.append(q)
        return np.array(out).reshape(-1, self.dof)

    def violations(
        self,
        g: GuardrailConfig,
        q0: np.ndarray,
        targets: np.ndarray,
        qd0: np.ndarray | None = None,
        arm: ArmControlConfig = ArmControlConfig(),
        check_acc: bool = True,
        tol: float = 1e-6,
    ) -> list[str]:
        """Names of guardrails the joint-target sequence q0 -> targets [T, J] violates."""
        lower, upper = self.limits(g)
        vel, acc = self.max_velocity(g), self.max_acceleration(g)
        dt, bad, radii = arm.control_period_s, set(), self.radii
        prev_q = np.asarray(q0, dtype=np.float64)
        prev_qd = np.zeros(self.dof) if qd0 is None else np.asarray(qd0, dtype=np.float64)
        prev_ee = self.ee(prev_q)
        for q in targets:
            if np.any(q < lower - tol) or np.any(q > upper + tol):
                bad.add("joint_position")
            qd = (q - prev_q) / dt
            if np.any(np.abs(qd) > vel + tol):
                bad.add("joint_velocity")
            if check_acc and np.any(np.abs(qd - prev_qd) / dt > acc + tol):
                bad.add("joint_acceleration")
            pts = self.points(q)
            ee, r_ee = pts[self.ee_index], radii[self.ee_index]
            if np.any(ee < np.asarray(g.workspace_lo) + r_ee - tol) or np.any(
                ee > np.asarray(g.workspace_hi) - r_ee + tol
            ):
                bad.add("workspace")
            for zone in g.keep_out:
                if any(_sdf(zone, p) < r - tol for p, r in zip(pts, radii, strict=True)):
                    bad.add("keep_out")
            if np.any((pts[:, 2] < g.table_z_m + g.table_margin_m + radii - tol) & self.table):
                bad.add("table")
            speed = np.linalg.norm(ee - prev_ee) / dt
            for sz in g.speed_zones:
                if (
                    _sdf(sz.zone, ee) <= 0 or _sdf(sz.zone, prev_ee) <= 0
                ) and speed > sz.max_speed_m_s + tol:
                    bad.add("zone_speed")
            prev_q, prev_qd, prev_ee = q, qd, ee
        return sorted(bad)

    def clearance(self, g: GuardrailConfig, q: np.ndarray, zone) -> float:
        """Smallest distance any check point keeps from `zone` beyond its radius (negative: inside)."""
        pts = self.points(q)
        return min(_sdf(zone, p) - r for p, r in zip(pts, self.radii, strict=True))


def zone_ahead(truth: TruthChecker, q: np.ndarray, offset: tuple[float, float, float], gap: float) -> SphereZone:
    """A keep-out sphere centred `offset` from the tool point at q, as large as it can be while every check point
    at q keeps `gap` from it (so q is feasible and a pose goal at the centre is not), by truth."""
    center = tuple(truth.ee(q) + np.asarray(offset))
    reach = truth.clearance(GuardrailConfig(), q, SphereZone(center, 1e-6)) + 1e-6  # nearest point's distance
    assert reach - gap > 0.01, f"the arm already touches {center}"
    return SphereZone(center, reach - gap)


@functools.cache
def truth_for(robot: Robot) -> TruthChecker:
    """One TruthChecker per Robot (Robots are cached and never mutated)."""
    return TruthChecker(robot)


@pytest.fixture(scope="session")
def truth(panda) -> TruthChecker:
    """The Panda's ground truth."""
    return truth_for(panda)


@pytest.fixture(scope="session")
def example_zones() -> dict:
    """A person zone beside the home pose, a box in front of it, and a slow zone around the home EE."""
    return {
        "person": SphereZone((0.5, 0.35, 0.35), 0.12),
        "box": BoxZone((0.62, -0.15, 0.0), (0.8, 0.15, 0.5)),
        "slow": BoxZone((0.4, -0.1, 0.2), (0.6, 0.1, 0.4)),
    }


@pytest.fixture
def build_problem(panda):
    """build_problem(world_model, costs, guardrails, arm, robot=panda, probe=..., critic=...) -> PlanProblem
    on cpu."""
    from jepa_mpc.planner.config import CostConfig
    from jepa_mpc.planner.objective import PlanProblem
    from jepa_mpc.planner.registry import build_cost_stack

    def build(
        world_model, costs=CostConfig(), guardrails=GuardrailConfig(), arm=ArmControlConfig(), robot=panda,
        **deps
    ):
        kin = robot.kinematics()
        stack = build_cost_stack(costs, guardrails, kin, arm, robot, **deps)
        return PlanProblem(world_model, stack, kin, arm)

    return build


@pytest.fixture
def make_ctx():
    """make_ctx(z0, q0, z_goal=..., ee_goal=..., qd0=..., gripper=...) -> PlanContext (float32, cpu)."""
    from jepa_mpc.planner.types import PlanContext

    def make(z0, q0, z_goal=None, ee_goal=None, qd0=None, prev_action=None, gripper=1.0):
        def t(x):
            return None if x is None else torch.as_tensor(np.asarray(x, dtype=np.float32))

        return PlanContext(
            z0=t(z0),
            q0=t(q0),
            qd0=t(np.zeros(len(q0)) if qd0 is None else qd0),
            z_goal=t(z_goal),
            ee_goal=t(ee_goal),
            prev_action=t(prev_action),
            gripper=gripper,
        )

    return make
