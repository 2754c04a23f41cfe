"""Reach on the embedded Panda (jepa_mpc/PandaReach-v0): bring the hand to where the goal image or pose shows it.

Goals and success are in sim/tasks.py (ReachTask). The image-goal settings were tuned with the shipped checkpoint
by `jepa-mpc eval` (docs/experiments.md, "Reach"); the mpc node starts from them too.
"""
from __future__ import annotations

from jepa_mpc.models.shipped import SHIPPED_CHECKPOINT
from jepa_mpc.tasks.spec import PlanningDefaults, Task

IMAGE_GOAL_PLANNING = PlanningDefaults(
    horizon=20,  # far goals: along the joint path the latent energy first rises, then falls; 10 steps do not see past
    goal_mode="closest",
    # The smallest energy along the plan. Near the goal, 20-step open-loop predictions drift (a still arm is
    # predicted to move by more than the energy left to gain), so terminal or mean energy let that drift steer the
    # arm away; the closest step is an early one there, where predictions are accurate. Seed 4: 0.99 vs 0.89.
    action_weight=0.3,  # near the goal the energy is flat, so stillness should win
)
POSE_GOAL_PLANNING = PlanningDefaults(goal_mode="terminal", action_weight=0.01)
"""Pose goals through known kinematics: the distance at the end of the plan, a light action cost."""

REACH = Task(
    name="reach",
    env_id="jepa_mpc/PandaReach-v0",
    entry_point="jepa_mpc.sim.panda_env:PandaReachEnv",
    summary="move the Panda's hand to the goal (within 5 cm)",
    tolerance_m=0.05,
    max_episode_steps=60,
    planning={"image": IMAGE_GOAL_PLANNING, "pose": POSE_GOAL_PLANNING},
    exploration="reach",
    checkpoint=SHIPPED_CHECKPOINT.name,  # the default wherever a checkpoint setting is empty
)
