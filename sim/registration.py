"""Gymnasium ids of the project's environments (registered when `jepa_mpc.sim` is imported), one per task
(jepa_mpc.tasks: each task names its env id, entry point and time limit)."""
from __future__ import annotations

import gymnasium

from jepa_mpc.tasks import TASKS

ENV_IDS = {env_id: task.entry_point for env_id, task in TASKS.items()}


def register_envs() -> None:
    """Register every task's env id once (idempotent)."""
    for env_id, task in TASKS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point=task.entry_point, max_episode_steps=task.max_episode_steps)
