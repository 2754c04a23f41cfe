"""The simulator as world model (sim-mpc): its rollouts are the env's own physics, batched samples do not interact,
its goal energy is a task-space distance, and an MPC planning with it closes in on a Reach goal."""
from __future__ import annotations

import gymnasium
import mujoco
import numpy as np
import pytest
import torch

import jepa_mpc.sim  # noqa: F401
from jepa_mpc.apps.evaluate import EvalSettings, run_episodes
from jepa_mpc.planner.goal_costs import GoalEnergy
from jepa_mpc.planner.protocols import WorldModelLike
from jepa_mpc.sim.simulator_model import SimulatorWorldModel

NO_IMAGE = torch.zeros(1, 8, 8, 3, dtype=torch.uint8)


@pytest.fixture(scope="module")
def push_env():
    env = gymnasium.make("jepa_mpc/PandaPush-v1").unwrapped
    yield env
    env.close()


def _start(env, prefix: np.ndarray, seed: int = 3) -> None:
    """Reset and replay `prefix` actions (deterministic: the same state every time)."""
    env.reset(seed=seed)
    for a in prefix:
        env.step(a.astype(np.float32))


def _encode(model: SimulatorWorldModel, data) -> torch.Tensor:
    model.set_state(data)
    return model.encode(NO_IMAGE)


def test_is_a_world_model_and_encode_needs_a_fresh_state(push_env):
    model = SimulatorWorldModel(push_env)
    assert isinstance(model, WorldModelLike)
    push_env.reset(seed=0)
    with pytest.raises(RuntimeError, match="set_state"):
        model.encode(NO_IMAGE)
    z = _encode(model, push_env.data)
    assert z.shape == (1, model.latent_dim)
    with pytest.raises(RuntimeError, match="set_state"):  # one state, one encode: never a stale state
        model.encode(NO_IMAGE)
    with pytest.raises(ValueError, match="Panda Reach and Push"):
        SimulatorWorldModel(object())


def test_cube_position_reads_the_true_cube_from_a_latent(push_env):
    push_env.reset(seed=5)
    model = SimulatorWorldModel(push_env)
    cube = model.cube_position(_encode(model, push_env.data))
    np.testing.assert_allclose(cube[0].numpy(), push_env.cube_pos, atol=1e-5)


def test_rollout_matches_stepping_the_env(push_env):
    """Each sample's predicted EE, cube and joint state equal stepping the env with the same actions (gripper
    included), from a mid-episode state."""
    rng = np.random.default_rng(0)
    prefix = rng.uniform(-1, 1, (4, 8))
    _start(push_env, prefix)
    model = SimulatorWorldModel(push_env)
    z0 = _encode(model, push_env.data)
    actions = rng.uniform(-1, 1, (3, 5, 8))
    z = model.rollout(z0.expand(3, -1), torch.as_tensor(actions, dtype=torch.float32))
    assert z.shape == (3, 5, model.latent_dim)
    qadr = slice(6, 6 + push_env.model.nq)
    for k in range(3):
        _start(push_env, prefix)
        for t in range(5):
            push_env.step(actions[k, t].astype(np.float32))
            np.testing.assert_allclose(model.ee_positions(z[k, t]).numpy(), push_env.ee_pos, atol=1e-5)
            np.testing.assert_allclose(model.cube_positions(z[k, t]).numpy(), push_env.cube_pos, atol=1e-5)
            qpos = z[k, t, qadr].double().numpy() / model.sim_cfg.state_weight
            np.testing.assert_allclose(qpos, push_env.data.qpos, atol=1e-5)


def test_batched_samples_are_independent(push_env):
    """Sample k's prediction is the same alone, beside other samples, or at another batch position."""
    push_env.reset(seed=1)
    model = SimulatorWorldModel(push_env)
    z0 = _encode(model, push_env.data)
    rng = np.random.default_rng(1)
    mine = torch.as_tensor(rng.uniform(-1, 1, (1, 4, 8)), dtype=torch.float32)
    others = torch.as_tensor(rng.uniform(-1, 1, (5, 4, 8)), dtype=torch.float32)
    alone = model.rollout(z0, mine)[0]
    first = model.rollout(z0.expand(6, -1), torch.cat([mine, others]))[0]
    last = model.rollout(z0.expand(6, -1), torch.cat([others, mine]))[-1]
    torch.testing.assert_close(first, alone, rtol=0, atol=1e-9)
    torch.testing.assert_close(last, alone, rtol=0, atol=1e-9)


def _energy(z: torch.Tensor, z_goal: torch.Tensor) -> float:
    rollout = type("R", (), {"z": z.reshape(1, 1, -1)})()
    ctx = type("C", (), {"z_goal": z_goal})()
    return float(GoalEnergy("l2", "terminal")(rollout, ctx)[0])


@pytest.mark.parametrize("task", ["reach", "push"])
def test_goal_energy_is_zero_at_the_goal_and_a_task_space_distance(task):
    env = gymnasium.make("jepa_mpc/PandaReach-v0" if task == "reach" else "jepa_mpc/PandaPush-v1").unwrapped
    env.reset(seed=2)
    model = SimulatorWorldModel(env)
    z_goal = model.goal_latent(env)
    goal_q, goal_cube = env.goal_arm_qpos, env._goal_cube_pos
    data = mujoco.MjData(model.model)

    def energy_at(arm_q, cube):
        env._set_scene(data, arm_q, cube)
        data.ctrl[:7], data.ctrl[7:] = arm_q, 0.04
        return _energy(torch.as_tensor(model.latent_of(data), dtype=torch.float32), z_goal), data.site_xpos[
            model.model.site("end_effector").id].copy()

    at_goal, ee_goal = energy_at(goal_q, goal_cube)
    assert at_goal < 1e-6
    length = model.sim_cfg.length_scale_m
    w_ee, w_cube = model.sim_cfg.reach_weights if task == "reach" else model.sim_cfg.push_weights
    previous = at_goal
    for delta in (0.05, 0.1, 0.2):  # the EE moves further and further from the goal
        e, ee = energy_at(goal_q + delta * np.r_[0, 1, 0, 1, 0, 0, 0], goal_cube)
        d = np.linalg.norm(ee - ee_goal)
        assert e > previous
        assert e == pytest.approx(w_ee**2 * d**2 / length**2, rel=0.02)
        previous = e
    moved, _ = energy_at(goal_q, goal_cube + np.r_[length, 0, 0])  # the cube one length scale off its goal
    assert moved == pytest.approx(w_cube**2, rel=0.02)
    env.close()


def test_sim_mpc_reach_episode_closes_in_on_the_goal():
    s = EvalSettings(policy="sim-mpc", sim_num_samples=16, horizon=5, iterations=2, max_steps=5, seed=0)
    (result,) = run_episodes(s, [0])
    assert len(result.distances) == 6 and result.violations == 0
    assert result.distances[-1] < 0.6 * result.distances[0], result.distances
    assert all(ms > 0 for ms in result.plan_ms)


@pytest.mark.parametrize("task", ["reach", "push"])
def test_pose_goal_latent_puts_the_goal_position_in_the_task_block(task):
    env = gymnasium.make("jepa_mpc/PandaReach-v0" if task == "reach" else "jepa_mpc/PandaPush-v1").unwrapped
    env.reset(seed=4)
    model = SimulatorWorldModel(env)
    z = model.goal_latent(env, pose_only=True)
    goal_part, other = (model.ee_positions, model.cube_positions)[:: 1 if task == "reach" else -1]
    np.testing.assert_allclose(goal_part(z).numpy(), env.goal_pos, atol=1e-6)
    current = (env.ee_pos, env.cube_pos)[1 if task == "reach" else 0]
    np.testing.assert_allclose(other(z).numpy(), current, atol=1e-6)  # the rest is the current state
    env.close()
