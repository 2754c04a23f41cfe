"""Gymnasium ids of the project's environments (registered when `jepa_mpc.sim` is imported)."""
from __future__ import annotations

import gymnasium

ENV_IDS = {
    "jepa_mpc/PandaReach-v0": "jepa_mpc.sim.panda_env:PandaReachEnv",
    "jepa_mpc/PandaPush-v1": "jepa_mpc.sim.panda_env:PandaPushEnv",
    "jepa_mpc/DMCReacher-v0": "jepa_mpc.sim.dmc_reacher:DMCReacherEnv",
    "jepa_mpc/ArmReach-v0": "jepa_mpc.sim.arm_env:ArmReachEnv",
}
MAX_EPISODE_STEPS = {
    "jepa_mpc/PandaReach-v0": 60,
    "jepa_mpc/PandaPush-v1": 100,
    "jepa_mpc/DMCReacher-v0": 100,
    "jepa_mpc/ArmReach-v0": 60,
}


def register_envs() -> None:
    """Register every id in ENV_IDS once (idempotent)."""
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point=entry_point, max_episode_steps=MAX_EPISODE_STEPS[env_id])
