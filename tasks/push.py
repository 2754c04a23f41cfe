"""Push on the embedded Panda (jepa_mpc/PandaPush-v1): slide the cube to where the goal image shows it.

Goals and success are in sim/tasks.py (PushTask). The planned gripper action is executed (the pushes in the data
close the hand). No Push checkpoint ships yet (train one with `jepa-mpc collect --env jepa_mpc/PandaPush-v1`, then
`jepa-mpc train`; docs/experiments.md, "Push").
"""
from __future__ import annotations

from jepa_mpc.tasks.reach import POSE_GOAL_PLANNING
from jepa_mpc.tasks.spec import PlanningDefaults, Task

IMAGE_GOAL_PLANNING = PlanningDefaults(
    # The latent goal energy is flat until the hand touches the cube, so image goals use the cube-push cost
    # (docs/experiments.md, "Push"). `both` (end + mean) rather than `closest`: the minimum over the plan rewarded
    # pushing through the goal. Action weight 0.01: at 0.05 the effort of a push outweighed its (model-predicted)
    # gain more often.
    image_cost="cube_push", goal_mode="both", action_weight=0.01,
)

PUSH = Task(
    name="push",
    env_id="jepa_mpc/PandaPush-v1",
    entry_point="jepa_mpc.sim.panda_env:PandaPushEnv",
    summary="push the cube to the goal on the table (within 5 cm)",
    tolerance_m=0.05,
    max_episode_steps=100,
    planning={"image": IMAGE_GOAL_PLANNING, "pose": POSE_GOAL_PLANNING},
    executes_gripper=True,
    exploration="push",
)
