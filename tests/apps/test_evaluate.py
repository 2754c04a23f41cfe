"""Closed-loop evaluation: Wilson interval values, determinism under seed, and baselines that separate."""
from __future__ import annotations

import dataclasses

import pytest

from jepa_mpc.apps.evaluate import EvalSettings, evaluate, run_episodes, wilson_interval


@pytest.mark.parametrize("k, n, lo, hi", [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0),
                                          (45, 50, 0.7864, 0.9565)])
def test_wilson_interval_matches_reference_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_same_seed_same_results():
    s = EvalSettings(policy="random", max_steps=8, seed=3)
    a, b = run_episodes(s, [0, 1]), run_episodes(s, [0, 1])
    assert [r.distances for r in a] == [r.distances for r in b]
    c = run_episodes(EvalSettings(policy="random", max_steps=8, seed=4), [0, 1])
    assert [r.distances for r in a] != [r.distances for r in c]


@pytest.mark.parametrize("policy", ["random", "sim-mpc"])
def test_an_episode_does_not_depend_on_the_episodes_run_before_it_in_its_worker(policy):
    """Episode 1 alone and episode 1 after episode 0 in the same process (another worker split) are the same:
    the random policy's and the planner's sampling are seeded per episode."""
    s = EvalSettings(env_id="jepa_mpc/PandaReach-v0", policy=policy, sim_num_samples=4, horizon=2, iterations=1,
                     max_steps=3, seed=5)
    after, alone = run_episodes(s, [0, 1])[1], run_episodes(s, [1])[0]
    assert after.distances == alone.distances
    assert after.distances[-1] != after.distances[0]  # the arm moved: the comparison is not vacuous


def test_random_is_far_below_oracle_and_nothing_is_violated():
    rand, _ = evaluate(EvalSettings(policy="random", max_steps=30), episodes=4)
    oracle, _ = evaluate(EvalSettings(policy="oracle", max_steps=30), episodes=4)
    assert oracle["success_rate"] == 1.0 and rand["success_rate"] <= 0.25
    assert oracle["final_distance_mean_m"] < 0.01 < rand["final_distance_mean_m"]
    assert rand["violations"] == oracle["violations"] == 0


def test_settings_are_validated():
    with pytest.raises(ValueError, match="policy"):
        EvalSettings(policy="telepathy")
    with pytest.raises(ValueError, match="goal"):
        EvalSettings(goal="vibes")


def test_checkpoint_with_joint_position_input_gets_them_for_observation_and_goal(tmp_path, monkeypatch):
    """A proprio-conditioned encoder must be fed joint positions for every frame and for the goal image."""
    import torch

    from jepa_mpc.models.checkpoint import save_checkpoint
    from jepa_mpc.models.config import EncoderConfig, WorldModelConfig
    from jepa_mpc.models.world_model import WorldModel

    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(latent_dim=8, encoder=EncoderConfig(proprio_dim=9, proprio_key="joint_pos")))
    save_checkpoint(tmp_path / "proprio", model)
    seen = []
    real_encode = WorldModel.encode

    def spy(self, image, proprio=None):
        seen.append(None if proprio is None else tuple(proprio.shape))
        return real_encode(self, image, proprio)

    monkeypatch.setattr(WorldModel, "encode", spy)
    results = run_episodes(EvalSettings(policy="mpc", checkpoint=str(tmp_path / "proprio"), num_samples=16,
                                        horizon=2, iterations=1, max_steps=2), [0])
    assert len(results[0].distances) == 3
    assert seen and all(shape == (1, 9) for shape in seen), seen


def test_panda_eval_refuses_a_checkpoint_that_reads_joint_velocities(tmp_path):
    """The Panda path feeds joint positions; a velocity-conditioned encoder must not silently get them."""
    from jepa_mpc.models.checkpoint import save_checkpoint
    from jepa_mpc.models.config import EncoderConfig, WorldModelConfig
    from jepa_mpc.models.world_model import WorldModel

    save_checkpoint(tmp_path / "vel", WorldModel(WorldModelConfig(
        latent_dim=8, encoder=EncoderConfig(widths=(8, 16), proprio_dim=9, proprio_key="joint_vel"))))
    with pytest.raises(ValueError, match="joint_vel"):
        run_episodes(EvalSettings(policy="mpc", checkpoint=str(tmp_path / "vel"), num_samples=16, horizon=2,
                                  iterations=1, max_steps=1), [0])


def test_a_controller_that_cannot_be_built_still_closes_the_env(tmp_path, monkeypatch):
    import gymnasium

    closed = []
    real_make = gymnasium.make

    def make(env_id, **kw):
        env = real_make(env_id, **kw)
        real_close = env.unwrapped.close
        env.unwrapped.close = lambda: (closed.append(env_id), real_close())
        return env

    monkeypatch.setattr(gymnasium, "make", make)
    with pytest.raises(FileNotFoundError, match="not found"):
        run_episodes(EvalSettings(policy="mpc", checkpoint=str(tmp_path / "missing"), max_steps=1), [0])
    assert closed == ["jepa_mpc/PandaReach-v0"]


@pytest.mark.parametrize("env_id, tolerance", [("jepa_mpc/PandaReach-v0", 0.05), ("jepa_mpc/DMCReacher-v0", None)])
def test_results_carry_the_envs_success_radius(env_id, tolerance):
    (result,) = run_episodes(EvalSettings(env_id=env_id, policy="random", max_steps=1), [0])
    if tolerance is not None:
        assert result.tolerance_m == tolerance
    else:  # dm_control's reward-1 region: target radius + finger radius, not the Panda's 5 cm
        assert 0.02 < result.tolerance_m < 0.1 and result.tolerance_m != 0.05


def test_eval_cli_defaults_to_the_tuned_planner_per_task_and_goal(tmp_path):
    import json

    from jepa_mpc.apps.cli import main
    from jepa_mpc.tasks import REACH

    tuned = REACH.planning_for("image")

    def settings(*flags):
        out = tmp_path / str(len(list(tmp_path.iterdir())))
        assert main(["eval", "--policies", "random", "--episodes", "1", "--max-steps", "1", "--workers", "1",
                     "--out", str(out), *flags]) == 0
        return json.loads((out / "eval.json").read_text())["settings"]

    image = settings()
    assert (image["horizon"], image["goal_mode"], image["action_weight"]) == \
        (tuned.horizon, tuned.goal_mode, tuned.action_weight)
    pose = settings("--goal", "pose")
    assert (pose["goal_mode"], pose["action_weight"]) == ("terminal", 0.01)
    reacher = settings("--env", "jepa_mpc/DMCReacher-v0")
    assert (reacher["num_samples"], reacher["iterations"], reacher["action_weight"]) == (300, 5, 0.05)
    push = settings("--env", "jepa_mpc/PandaPush-v1")
    assert (push["image_cost"], push["goal_mode"], push["action_weight"], push["max_steps"], push["push_gain"]) == \
        ("cube_push", "both", 0.01, 1, None)  # no gain asked: the checkpoint's measured one
    assert settings("--env", "jepa_mpc/PandaPush-v1", "--push-gain", "2.5")["push_gain"] == 2.5
    assert image["image_cost"] == "goal_energy"
    out = tmp_path / "limit"  # no --max-steps: the env's time limit
    assert main(["eval", "--policies", "random", "--episodes", "1", "--workers", "1", "--out", str(out)]) == 0
    assert json.loads((out / "eval.json").read_text())["settings"]["max_steps"] == 60
    flagged = settings("--horizon", "7", "--action-weight", "0.5")  # flags win over the tuned values
    assert (flagged["horizon"], flagged["action_weight"], flagged["goal_mode"]) == (7, 0.5, tuned.goal_mode)


def _cube_probe_checkpoint(path, with_cube: bool):
    import torch

    from jepa_mpc.models.checkpoint import save_checkpoint
    from jepa_mpc.models.config import EncoderConfig, ProbeConfig, WorldModelConfig
    from jepa_mpc.models.probes import Probe
    from jepa_mpc.models.world_model import WorldModel

    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(latent_dim=8, encoder=EncoderConfig(widths=(8, 16), proprio_dim=9,
                                                                            proprio_key="joint_pos")))
    if with_cube:
        model = model.with_probes({"cube_pos": Probe(ProbeConfig(name="cube_pos", out_dim=3), 8)})
    save_checkpoint(path, model)
    return str(path)


def test_cube_push_needs_a_checkpoint_with_a_cube_probe(tmp_path):
    settings = EvalSettings(env_id="jepa_mpc/PandaPush-v1", policy="mpc", image_cost="cube_push", num_samples=16,
                            horizon=2, iterations=1, max_steps=1,
                            checkpoint=_cube_probe_checkpoint(tmp_path / "plain", with_cube=False))
    with pytest.raises(ValueError, match="cube_pos probe"):
        run_episodes(settings, [0])
    with pytest.raises(ValueError, match="image_cost"):
        EvalSettings(image_cost="telepathy")


@pytest.mark.parametrize("env_id", ["jepa_mpc/PandaPush-v1", "jepa_mpc/PandaReach-v0"])
def test_push_executes_the_planned_gripper_and_reach_holds_it_open(tmp_path, monkeypatch, env_id):
    """Push runs the gripper command the safety filter returned (the planner plans it); Reach keeps it open."""
    from jepa_mpc.planner.mpc import RecedingHorizonMPC
    from jepa_mpc.robots.arm_control import ArmControlConfig
    from jepa_mpc.sim.panda_env import PandaArmEnv
    from jepa_mpc.sim.panda_scene import GRIPPER_OPEN

    commanded, executed = [], []
    real_step, real_to_targets = RecedingHorizonMPC.step, PandaArmEnv.step_to_targets

    def step(self, obs, now_s=None):
        tick = real_step(self, obs, now_s)
        commanded.append(tick.command.gripper)
        return tick

    def to_targets(self, arm_targets, gripper_m=GRIPPER_OPEN):
        executed.append(gripper_m)
        return real_to_targets(self, arm_targets, gripper_m)

    monkeypatch.setattr(RecedingHorizonMPC, "step", step)
    monkeypatch.setattr(PandaArmEnv, "step_to_targets", to_targets)
    push = "Push" in env_id
    run_episodes(EvalSettings(env_id=env_id, policy="mpc", image_cost="cube_push" if push else "goal_energy",
                              num_samples=64, horizon=2, iterations=1, max_steps=4, action_weight=0.0,
                              checkpoint=_cube_probe_checkpoint(tmp_path / "cube", with_cube=True)), [0])
    assert len(executed) == len(commanded) == 4
    if push:
        want = [0.5 * (g + 1.0) * ArmControlConfig().gripper_max_m for g in commanded]
        assert executed == pytest.approx(want) and min(executed) < GRIPPER_OPEN
    else:
        assert executed == [GRIPPER_OPEN] * 4


@pytest.mark.parametrize("metrics, gain", [({"push_response": {"ratio": 0.5}}, 2.0), (None, 1.0),
                                           ({"push_response": {"ratio": 0.01}}, 5.0),
                                           ({"push_response": {"ratio": 1.25}}, 0.8)])
def test_the_push_gain_undoes_the_checkpoints_measured_push_response(tmp_path, metrics, gain):
    """The learned model's predicted pushes are scaled by 1 / the share it predicts (bounded); unmeasured: 1."""
    from jepa_mpc.apps.evaluate import _Controller, measured_push_gain
    from jepa_mpc.models.checkpoint import save_checkpoint
    from jepa_mpc.models.world_model import WorldModel
    from jepa_mpc.planner.goal_costs import CubePush
    from jepa_mpc.planner.mpc import RecedingHorizonMPC

    path = tmp_path / "m"
    save_checkpoint(path, WorldModel.from_checkpoint(_cube_probe_checkpoint(tmp_path / "cube", True)),
                    metrics=metrics)
    assert measured_push_gain(path) == pytest.approx(gain)
    settings = EvalSettings(env_id="jepa_mpc/PandaPush-v1", policy="mpc", image_cost="cube_push", num_samples=16,
                            horizon=2, iterations=1, checkpoint=str(path))
    for asked, used in ((None, gain), (3.0, 3.0)):  # the eval applies it unless told a gain
        mpc: RecedingHorizonMPC = _Controller._build_mpc(dataclasses.replace(settings, push_gain=asked))
        push = [term for _, term in mpc.problem.stack.terms if isinstance(term, CubePush)]
        assert [p.gain for p in push] == [pytest.approx(used)]


XARM = "pybullet_data:xarm/xarm6_robot.urdf"


def test_eval_robot_runs_fk_mpc_on_that_arm(tmp_path):
    """`eval --robot R` evaluates the pose-goal MPC in ArmReach-v0 around R; learned-model policies are dropped."""
    import json

    from jepa_mpc.apps.cli import main

    out = tmp_path / "eval"
    code = main(["eval", "--robot", XARM, "--policies", "fk-mpc,mpc", "--goal", "pose", "--episodes", "2",
                 "--samples", "64", "--max-steps", "25", "--workers", "1", "--out", str(out)])
    report = json.loads((out / "eval.json").read_text())
    assert code == 0 and report["env"] == "jepa_mpc/ArmReach-v0" and report["robot"] == XARM
    assert list(report["summary"]) == ["fk-mpc"]  # the Panda's learned model does not drive a 6-joint arm
    assert report["summary"]["fk-mpc"]["success_rate"] == 1.0 and report["summary"]["fk-mpc"]["violations"] == 0


def test_the_simulator_check_sees_every_link_not_only_the_tool():
    """eval's independent violation check reads the simulator: a keep-out zone on a link (not the tool) or a
    table raised into a link's geometry is a violation; the same arm with neither is not."""
    import gymnasium
    import numpy as np

    import jepa_mpc.sim  # noqa: F401
    from jepa_mpc.apps.evaluate import _violates
    from jepa_mpc.planner.config import SphereZone, guardrails_for

    env = gymnasium.make("jepa_mpc/ArmReach-v0", robot=XARM).unwrapped
    try:
        env.reset(seed=0)
        robot = env.robot
        g = guardrails_for(robot)
        assert not _violates(env, g, robot)
        elbow = next(p for p in robot.spheres if p.frame == "link3")
        body = env.model.body(elbow.frame).id
        centre = env.data.xpos[body] + env.data.xmat[body].reshape(3, 3) @ np.asarray(elbow.offset)
        assert np.linalg.norm(centre - env.ee_pos) > 0.1  # far from the tool point
        zone = SphereZone(tuple(centre + [0.0, 0.0, elbow.radius]), 0.02)  # touches the sphere less its margin
        assert _violates(env, dataclasses.replace(g, keep_out=(zone,)), robot)
        lowest = min(env.data.xpos[env.model.body(p.frame).id][2] for p in robot.spheres if p.table_check)
        assert _violates(env, dataclasses.replace(g, table_z_m=float(lowest)), robot)
    finally:
        env.close()
