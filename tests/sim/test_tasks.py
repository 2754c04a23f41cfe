"""Each task module (jepa_mpc.tasks) agrees with the cell that runs it: its env is registered with the task's time
limit, success radius and kind of action, and its shipped checkpoint was trained on the task's own env."""
from __future__ import annotations

import dataclasses
import json

import gymnasium
import numpy as np
import pytest

import jepa_mpc.sim  # noqa: F401  (registers the env ids)
from jepa_mpc.models.checkpoint import checkpoint_paths
from jepa_mpc.tasks import REACH, TASKS, PlanningDefaults, task_for_env


@pytest.mark.parametrize("env_id", sorted(TASKS))
def test_the_env_runs_the_task_it_is_registered_for(env_id):
    task = TASKS[env_id]
    env = gymnasium.make(env_id, image_size=32)
    try:
        assert env.spec.max_episode_steps == task.max_episode_steps
        cell = env.unwrapped
        if task.tolerance_m is not None:
            assert cell.tolerance_m == task.tolerance_m
        _, info = env.reset(seed=0)
        assert info["success"] == (info["distance"] <= cell.tolerance_m)
        if task.control == "bounded_action":  # the actions are the commands: a box, no joint targets
            assert not hasattr(cell, "arm_qpos")
            assert np.all(np.isfinite(env.action_space.low)) and np.all(np.isfinite(env.action_space.high))
        else:  # joint-position arms expose the measured joints the MPC starts from
            assert np.all(np.isfinite(cell.arm_qpos)) and len(cell.arm_qpos) >= 6
    finally:
        env.close()


@pytest.mark.parametrize("task", [t for t in TASKS.values() if t.checkpoint], ids=lambda t: t.name)
def test_a_shipped_checkpoint_was_trained_on_its_tasks_env(task):
    weights, meta = checkpoint_paths(task.checkpoint_path)
    assert weights.is_file() and meta.is_file()
    assert json.loads(meta.read_text())["data_fingerprint"]["env_id"] == task.env_id


def test_goal_kinds_and_unknown_envs_are_refused_with_what_is_accepted():
    assert REACH.goal_kinds == ("image", "pose")
    with pytest.raises(ValueError, match="image goals"):
        TASKS["jepa_mpc/DMCReacher-v0"].planning_for("pose")
    with pytest.raises(ValueError, match="PandaReach-v0"):
        task_for_env("jepa_mpc/Nope-v0")


@pytest.mark.parametrize("bad", [dict(samples=0), dict(horizon=True), dict(goal_mode="last"),
                                 dict(action_weight=float("nan")), dict(image_cost="cube")])
def test_planning_defaults_are_validated(bad):
    with pytest.raises(ValueError):
        dataclasses.replace(PlanningDefaults(), **bad)
