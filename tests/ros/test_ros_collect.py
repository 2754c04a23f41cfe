"""`jepa-mpc collect --through-ros` drives a running graph through its safety filter and records rosbag2 episodes
that `dataset from-bag` turns into training data; finished episodes survive an interrupted run and are skipped on
the next; no simulator state is read (only topics)."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

pytest.importorskip("rclpy")
from jepa_mpc.apps.cli import main as cli_main  # noqa: E402
from jepa_mpc.models.episodes import complete_indices, load_episode  # noqa: E402
from tests.ros.test_bringup_shutdown import _cli, _Lines  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graph():
    """The sim graph, a process per node, with no goal: only the collector plans."""
    proc = subprocess.Popen(_cli("bringup", "sim", "--processes", "per-node"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = _Lines(proc.stdout)
    try:
        assert lines.wait_for("optimizer cem", timeout_s=90.0), lines.text()
        yield proc
    finally:
        proc.send_signal(2)
        proc.wait(timeout=30)


def test_collect_through_ros_then_from_bag(graph, tmp_path):
    out, data = tmp_path / "bags", tmp_path / "data"
    args = ["collect", "--through-ros", "--episodes", "2", "--steps", "20", "--out", str(out), "--no-progress"]
    assert cli_main(args) == 0
    episodes = sorted(p.name for p in (out / "episodes").iterdir())
    assert episodes == ["ep_000000", "ep_000001"], episodes
    infos = [json.loads((out / "info" / f"{e}.json").read_text()) for e in episodes]
    assert {i["policy"] for i in infos} <= {"random", "reach"} and all(i["steps"] == 20 for i in infos)
    assert cli_main(args) == 0, "a second run skips what is there"
    assert json.loads((out / "collect_summary.json").read_text())["skipped"] == 2
    assert cli_main(["dataset", "from-bag", *(str(out / "episodes" / e) for e in episodes), "--out", str(data)]) == 0
    assert len(complete_indices(data, verify=True)) >= 2
    kept = [b["steps_kept"] for b in json.loads((data / "from_bag_report.json").read_text())["bags"]]
    assert min(kept) >= 10, f"steps kept per bag: {kept} (plans on the arm's tick: each step has a frame of its own)"
    episode = load_episode(data, 0)
    assert episode["image"].shape[0] >= 8 and episode["action"].shape[1] == 8
    assert abs(episode["action"][:, :7]).max() > 0.1, "the explorer moved the arm"
    assert abs(episode["action"][:, :7]).max() <= 1.0


def test_ctrl_c_loses_only_the_episode_under_way(graph, tmp_path, monkeypatch):
    from jepa_mpc.ros_nodes import ros_collect

    calls = []
    actions = ros_collect.Explorer.actions

    def interrupted(self, q):
        calls.append(1)
        if len(calls) == 8 + 5:  # episode 2, step 5
            raise KeyboardInterrupt
        return actions(self, q)

    monkeypatch.setattr(ros_collect.Explorer, "actions", interrupted)
    args = ["collect", "--through-ros", "--episodes", "3", "--steps", "8", "--out", str(tmp_path), "--no-progress"]
    assert cli_main(args) == 130
    assert sorted(p.name for p in (tmp_path / "episodes").iterdir()) == ["ep_000000"], "no half episode is kept"
    monkeypatch.setattr(ros_collect.Explorer, "actions", actions)
    assert cli_main(args) == 0
    assert sorted(p.name for p in (tmp_path / "episodes").iterdir()) == ["ep_000000", "ep_000001", "ep_000002"]


def test_without_a_graph_it_says_what_to_start(tmp_path, monkeypatch):
    from jepa_mpc.ros_nodes.ros_collect import collect_through_ros

    # another domain than this module's graph, which may still be up
    monkeypatch.setenv("ROS_DOMAIN_ID", str((int(os.environ.get("ROS_DOMAIN_ID", "0")) + 101) % 232))

    with pytest.raises(RuntimeError, match="start the graph first"):
        collect_through_ros(tmp_path, 1, 5, wait_s=1.0, progress=False)


def test_the_reach_explorer_stays_near_the_start_and_turns_away_from_a_hold():
    import numpy as np

    from jepa_mpc.robots import load_robot
    from jepa_mpc.robots.arm_control import ArmControlConfig, integrate_targets
    from jepa_mpc.ros_nodes.ros_collect import Explorer

    robot, cfg = load_robot("robosuite:ur5e"), ArmControlConfig()
    explorer = Explorer(robot, "reach", np.random.default_rng(0), cfg, range_rad=0.4)
    start = robot.home.copy()
    q, targets = start, []
    for _ in range(400):
        q = integrate_targets(q, explorer.actions(q)[:1], robot.lower, robot.upper, cfg)[0]
        targets.append(explorer.target.copy())
    targets = np.unique(np.round(targets, 9), axis=0)
    assert len(targets) > 3, "arriving draws the next target"
    assert np.abs(targets - start).max() <= 0.4 + 1e-9, "every target lies within range_rad of the start"
    assert np.abs(q - start).max() <= 0.4 + 0.3, "the arm stays near where the episode started"
    before = explorer.target.copy()
    explorer.held()
    explorer.actions(q)
    assert not np.allclose(explorer.target, before), "a hold makes the explorer turn to another target"
