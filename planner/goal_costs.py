"""Task costs on predicted states: latent goal energy, EE pose goal (learned probe or known FK), cube push, critic.

Each is a small object returning cost [K]; `mode` picks the last step, the horizon mean, both, or the closest step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from jepa_mpc.planner.types import PlanContext, Rollout

LatentFn = Callable[[torch.Tensor], torch.Tensor]


def over_time(per_step: torch.Tensor, mode: str) -> torch.Tensor:
    """per_step [K, T] -> [K]: terminal (last step), trajectory (mean over steps), both (their sum), or closest
    (the smallest over the steps: how close the plan comes; open-loop drift of late predictions cannot mask it)."""
    if mode == "terminal":
        return per_step[:, -1]
    if mode == "trajectory":
        return per_step.mean(dim=1)
    if mode == "closest":
        return per_step.amin(dim=1)
    return per_step[:, -1] + per_step.mean(dim=1)


def safe_norm(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Euclidean norm; torch's backward gives 0 (not NaN) at the zero vector."""
    return torch.linalg.vector_norm(x, dim=dim)


def _apply_latent_fn(fn: LatentFn, z: torch.Tensor) -> torch.Tensor:
    """Apply fn (z [N, D] -> [N, ...]) to z [K, H, D] -> [K, H, ...]."""
    k, horizon, d = z.shape
    out = fn(z.reshape(k * horizon, d))  # [K*H, ...]
    return out.reshape(k, horizon, *out.shape[1:])


class GoalEnergy:
    """Distance from predicted latents to the goal latent: l1 = mean |dz|, l2 = mean dz^2 (over D)."""

    name = "goal_energy"
    requires = frozenset({"z_goal"})

    def __init__(self, norm: str = "l2", mode: str = "terminal") -> None:
        self.norm, self.mode = norm, mode

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> torch.Tensor:
        diff = rollout.z - ctx.z_goal  # [K, H, D]
        per_step = diff.abs().mean(-1) if self.norm == "l1" else (diff * diff).mean(-1)  # [K, H]
        return over_time(per_step, self.mode)


class PoseGoalProbe:
    """Distance (m) from a learned probe's EE estimate probe(z) [N, 3] to the goal position."""

    name = "pose_probe"
    requires = frozenset({"ee_goal"})

    def __init__(self, probe: LatentFn, mode: str = "terminal") -> None:
        self.probe, self.mode = probe, mode

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> torch.Tensor:
        ee = _apply_latent_fn(self.probe, rollout.z)  # [K, H, 3]
        return over_time(safe_norm(ee - ctx.ee_goal), self.mode)


class PoseGoalFK:
    """Distance (m) between the known-kinematics end effector and the goal position."""

    name = "pose_fk"
    requires = frozenset({"ee_goal"})

    def __init__(self, ee_index: int, mode: str = "terminal") -> None:
        self.ee_index, self.mode = ee_index, mode

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> torch.Tensor:
        ee = rollout.points[:, 1:, self.ee_index]  # [K, H, 3] (step 0 is the current state)
        return over_time(safe_norm(ee - ctx.ee_goal), self.mode)


CONTACT_SOFTNESS_M = 0.005
"""cube_push contact gate: the width of its soft edge, in metres."""

FUNNEL_SLOPE = 1.0
"""cube_push: height gained per metre away from the pushing spot (a 45-degree funnel). Slope 2, which clears the
cube's top edge with the hand, left the learned MPC's hand hovering above the cube in the variants tried."""


class CubePush:
    """Push progress, in metres. The cube's distance to where the goal image shows it, both read by a learned cube
    probe (predicted latents, goal latent), over time as `mode` says; plus, averaged over the plan (the path
    matters, not one step), `approach` times the hand's distance to its pushing pose:
    - the known-kinematics end effector's distance to the spot `behind_m` behind the predicted cube on the line
      from the cube (now) to its goal, plus its height error, the height goal being `push_z_m` plus FUNNEL_SLOPE
      times that distance (the hand comes down only near the spot, so it passes over the cube);
    - the finger gap the plan's gripper action asks for (0 closed, `gripper_max_m` per finger open): the pushes
      in the data are made with a closed hand, and an open one sweeps a wider path that knocks the cube aside.
    The goal energy alone is flat until the arm touches the cube; the approach term gives the planner a slope to
    follow from the first tick, and the spot moves with the predicted cube, so pushing on keeps it small. Within
    `settle_m` of the goal the pull to the spot fades into a pull to keep the hand where it is: there the push
    line's direction is probe noise, and a hand that chases it, or pushes on, knocks the delivered cube away.
    The goal is a region: the cube's distance counts only beyond `deadband_m` of it, so a delivered cube is left
    alone rather than nudged for the last centimetre.
    The learned model's predicted cube motion is trusted only where physics allows it:
    - with `contact_m` > 0 it counts only from the first step at which the hand is within `contact_m` (table
      plane) of the cube and low enough to touch it: a cube moves only when touched. Ungated, the model's cube
      wobble whenever the arm moved outweighed the approach term and the planner held the arm still;
    - with `hand_pushes` only its part along the hand's travel counts, and only while the cube lies ahead of the
      hand: a hand pushes, never pulls. Among hundreds of candidates the planner found the ones whose predicted
      cube slid toward the goal while the hand, ahead of it, shoved it away (docs/experiments.md, "Push");
    - `gain` multiplies what is left: a learned model predicts about half of a push, which made pushing look half
      as useful as it is."""

    name = "cube_push"
    requires = frozenset({"z_goal"})

    def __init__(self, probe: LatentFn, ee_index: int, *, approach: float, behind_m: float, push_z_m: float,
                 gripper_max_m: float, dof: int, cube_half_m: float, settle_m: float = 0.0, contact_m: float = 0.0,
                 gain: float = 1.0, deadband_m: float = 0.0, hand_pushes: bool = False,
                 mode: str = "terminal") -> None:
        self.probe, self.ee_index, self.mode, self.dof, self.cube_half_m = probe, ee_index, mode, dof, cube_half_m
        self.approach, self.behind_m, self.push_z_m, self.gripper_max_m = approach, behind_m, push_z_m, gripper_max_m
        self.settle_m, self.contact_m, self.deadband_m = settle_m, contact_m, deadband_m
        self.gain, self.hand_pushes = gain, hand_pushes

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> torch.Tensor:
        cube = _apply_latent_fn(self.probe, rollout.z)[..., :2]  # [K, H, 2] predicted cube, table plane
        now, goal = self.probe(torch.stack([ctx.z0, ctx.z_goal]))[:, :2].unbind(0)  # [2] each
        left = safe_norm(goal - now)  # [] the cube's distance to go
        heading = (goal - now) / left.clamp_min(1e-3)  # [2] unit: at the goal the hand rests behind
        ee = rollout.points[:, 1:, self.ee_index]  # [K, H, 3] (step 0 is the current state)
        hand_now = rollout.points[:, :1, self.ee_index]  # [K, 1, 3]
        moved = cube - now  # [K, H, 2] the predicted push
        if self.contact_m > 0:  # the cube stays where it is until the hand first reaches it
            moved = self._touched(ee, now).unsqueeze(-1) * moved
        if self.hand_pushes:
            moved = self._along_hand(moved, ee, hand_now, now)
        cube = now + self.gain * moved
        lateral = safe_norm(ee[..., :2] - (cube - self.behind_m * heading))  # [K, H]
        height = (ee[..., 2] - self.push_z_m - FUNNEL_SLOPE * lateral).abs()  # [K, H] off the funnel
        pose = lateral + height  # [K, H]
        if self.settle_m > 0:  # near the goal: stay (hand's distance from where it is now) rather than push
            pushing = (left / self.settle_m).clamp(max=1.0)  # [] 1 far from the goal, 0 at it
            stay = safe_norm(ee - hand_now)  # [K, H]
            pose = pushing * pose + (1.0 - pushing) * stay
        if rollout.actions.shape[-1] > self.dof:  # the finger gap of the plan's gripper action (both fingers)
            pose = pose + (rollout.actions[..., self.dof].clamp(-1.0, 1.0) + 1.0) * self.gripper_max_m
        short = (safe_norm(cube - goal) - self.deadband_m).clamp_min(0.0)  # [K, H] beyond the goal region
        return over_time(short, self.mode) + self.approach * pose.mean(dim=1)

    def _touched(self, ee: torch.Tensor, cube_now: torch.Tensor) -> torch.Tensor:
        """[K, H] in [0, 1]: has the hand (ee [K, H, 3]) reached the cube by each step? Soft (CONTACT_SOFTNESS_M)
        so the gradient planners see it; "low enough" is below the pushing height plus one cube height."""
        near = torch.sigmoid((self.contact_m - safe_norm(ee[..., :2] - cube_now)) / CONTACT_SOFTNESS_M)
        low = torch.sigmoid((self.push_z_m + 2 * self.cube_half_m - ee[..., 2]) / CONTACT_SOFTNESS_M)
        return torch.cummax(near * low, dim=1).values

    @staticmethod
    def _along_hand(moved: torch.Tensor, ee: torch.Tensor, ee_start: torch.Tensor,
                    cube_now: torch.Tensor) -> torch.Tensor:
        """moved [K, H, 2] -> its part along the hand's travel since the plan's start (ee [K, H, 3], ee_start
        [K, 1, 3]), none of it backwards, and none while the cube (cube_now [2]) is not ahead of where the hand
        started (soft, CONTACT_SOFTNESS_M): a retreating hand does not drag the cube along."""
        start = ee_start[..., :2]  # [K, 1, 2]
        travel = ee[..., :2] - start  # [K, H, 2]
        direction = travel / safe_norm(travel).clamp_min(1e-3).unsqueeze(-1)  # unit (shorter when barely moving)
        ahead = torch.sigmoid(((cube_now - start) * direction).sum(-1) / CONTACT_SOFTNESS_M)  # [K, H]
        push = (moved * direction).sum(-1).clamp_min(0.0) * ahead  # [K, H] metres along the travel
        return push.unsqueeze(-1) * direction


class Critic:
    """A trainable cost: any callable z [N, D] -> cost [N] or [N, 1] (the seeds' critic on the state)."""

    name = "critic"
    requires: frozenset[str] = frozenset()

    def __init__(self, critic: LatentFn, mode: str = "terminal") -> None:
        self.critic, self.mode = critic, mode

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> torch.Tensor:
        cost = _apply_latent_fn(self.critic, rollout.z)  # [K, H] or [K, H, 1]
        return over_time(cost.reshape(cost.shape[0], cost.shape[1]), self.mode)
