"""The learned-model MPC on `jepa_mpc/DMCReacher-v0` as an eval policy: the MPC (planner/mpc.py) on a bounded-action
arm with a trained checkpoint, CEM over 2-d torque sequences in [-1, 1] to the goal image's latent.

An encoder that reads proprioception gets the observed array it was trained on (`joint_vel` or `joint_pos`) and,
for the goal, the goal image's state from reset's info (`goal_joint_vel`: zeros, the goal arm is at rest;
`goal_joint_pos`: the IK configuration).
"""
from __future__ import annotations

import numpy as np

from jepa_mpc.sim.reacher_policies import CONTROL_PERIOD_S
from jepa_mpc.tasks import REACHER


class ReacherMPC:
    """The learned-model MPC as an eval policy: `reset(env, info)`, `act(obs, t) -> (action [2], plan_ms, intervened)`.

    `settings` is an EvalSettings (checkpoint, optimizer, num_samples, horizon, iterations, goal_mode,
    action_weight, device, seed); only an image goal is supported (there is no arm kinematics for a pose goal).
    """

    def __init__(self, settings, env) -> None:
        import torch

        from jepa_mpc.models.shipped import resolve_checkpoint
        from jepa_mpc.models.world_model import WorldModel
        from jepa_mpc.planner.box_filter import ActionBoxConfig
        from jepa_mpc.planner.config import CEMConfig, CostConfig, MPCConfig
        from jepa_mpc.planner.mpc import RecedingHorizonMPC

        if settings.goal != "image":
            raise ValueError("the Reacher MPC plans to the goal image (goal='image'); it has no kinematics for a "
                             "pose goal")
        torch.manual_seed(settings.seed)
        path = resolve_checkpoint(settings.checkpoint, default=REACHER.checkpoint_path)
        world_model = WorldModel.from_checkpoint(path, device=settings.device)
        world_model = world_model.eval()
        space = env.action_space
        if world_model.action_dim != space.shape[0]:
            raise ValueError(f"checkpoint action_dim {world_model.action_dim} != the env's {space.shape[0]}")
        cfg = MPCConfig(optimizer=settings.optimizer, horizon=settings.horizon, device=settings.device,
                        cem=CEMConfig.for_samples(settings.num_samples, settings.iterations), max_obs_age_s=1e9)
        costs = CostConfig(terms=("goal_energy", "action_magnitude", "action_rate"), goal_mode=settings.goal_mode,
                           action_magnitude_weight=settings.action_weight)
        box = ActionBoxConfig(low=tuple(map(float, space.low)), high=tuple(map(float, space.high)))
        self.mpc = RecedingHorizonMPC.build(world_model, cfg, costs, box=box, control_period_s=CONTROL_PERIOD_S)
        self.proprio_key = world_model.cfg.encoder.proprio_key

    def _proprio(self, source: dict, prefix: str = "") -> np.ndarray | None:
        return None if self.proprio_key == "none" else np.asarray(source[prefix + self.proprio_key])

    def reset(self, env, info) -> None:
        """Forget the warm start; encode this episode's goal image (+ the goal state's proprioception)."""
        self.mpc.reset()
        self.mpc.set_goal_image(info["goal_image"], self._proprio(info, "goal_"))

    def act(self, obs, t: int) -> tuple[np.ndarray, float, bool]:
        """One MPC tick on observation `obs` at control step t."""
        from jepa_mpc.planner.mpc import Observation

        tick = self.mpc.step(Observation(q=None, image=obs["image"], stamp_s=float(t), proprio=self._proprio(obs)),
                             now_s=float(t))
        return tick.command.actions[0], tick.timings_s["total"] * 1e3, not tick.report.ok
