"""A home pose for an arm whose description gives none: the tool point in front of the base, elbow up.

Random configurations within the limits are pulled by damped least squares (batched, torch autograd Jacobians)
until the tool point reaches a target in front of the shoulder; of those that arrive, the pose kept is the one
farthest from its joint limits (normalised by range) among those whose check spheres clear the table by 5 cm.
"""
from __future__ import annotations

import numpy as np
import torch

TABLE_CLEARANCE_M = 0.05


def home_target(robot) -> np.ndarray:
    """Where the tool point should be at home: 0.55 x reach in front of the base (its +x axis), at the height of
    0.35 x reach above the base (for the Panda: about its (0.5, 0, 0.3))."""
    base = np.asarray(robot.cfg.base_pos, dtype=np.float64)
    return base + 0.55 * robot.reach_m * robot.forward + np.array([0.0, 0.0, 0.35 * robot.reach_m])


def dls_batch(kin, q: torch.Tensor, target: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor,
              iterations: int = 60, damping: float = 0.05, max_step: float = 0.2) -> torch.Tensor:
    """Damped least-squares steps of the first FK point towards target [3], for a batch q [N, J]."""
    for _ in range(iterations):
        q = q.detach().requires_grad_(True)
        pos = kin.forward(q)[:, 0]  # [N, 3]
        err = (target - pos).detach()
        jac = torch.stack([torch.autograd.grad(pos[:, i].sum(), q, retain_graph=i < 2)[0] for i in range(3)],
                          dim=1)  # [N, 3, J]
        eye = torch.eye(3, dtype=q.dtype) * damping**2
        dq = (jac.transpose(1, 2) @ torch.linalg.solve(jac @ jac.transpose(1, 2) + eye, err[..., None]))[..., 0]
        q = torch.clamp(q.detach() + dq.clamp(-max_step, max_step), lower, upper)
    return q.detach()


def find_home(robot, samples: int = 512, seed: int = 0) -> np.ndarray:
    """Home joint positions [J] (model convention) for robot; deterministic. Runs on one torch thread (small
    batches: on a busy 2-core machine two threads made it 5-10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _find_home(robot, samples, seed)
    finally:
        torch.set_num_threads(threads)


def _find_home(robot, samples: int, seed: int) -> np.ndarray:
    lower = np.maximum(robot.lower, -np.pi)
    upper = np.minimum(robot.upper, np.pi)
    rng = np.random.default_rng(seed)
    q0 = torch.as_tensor(rng.uniform(lower, upper, (samples, robot.dof)))
    lo, hi = torch.as_tensor(robot.lower), torch.as_tensor(robot.upper)
    target = torch.as_tensor(home_target(robot))
    q = dls_batch(robot.kinematics((robot.tool,), dtype=torch.float64), q0, target, lo, hi).numpy()
    points = robot.kinematics(dtype=torch.float64).forward(torch.as_tensor(q)).numpy()  # [N, P, 3]
    arrived = np.linalg.norm(points[:, 0] - target.numpy(), axis=1) < 5e-3
    radii = np.array([p.radius for p in robot.check_points])
    moving = np.array([p.table_check for p in robot.check_points])
    table_z = float(robot.cfg.base_pos[2])
    clearance = (points[:, moving, 2] - radii[moving] - table_z).min(axis=1)
    margin = np.minimum(q - robot.lower, robot.upper - q) / (robot.upper - robot.lower)
    score = np.where(arrived & (clearance > TABLE_CLEARANCE_M), margin.min(axis=1), -np.inf)
    if not np.isfinite(score).any():  # nothing clears the table: take the highest of those that arrived
        score = np.where(arrived, clearance, -np.inf)
    if not np.isfinite(score).any():
        from jepa_mpc.robots.errors import RobotDescriptionError

        raise RobotDescriptionError(f"{robot.name}: found no home pose with the tool at {target.numpy().round(3)}; "
                                    "give one (RobotConfig.home)")
    return q[int(np.argmax(score))].copy()
