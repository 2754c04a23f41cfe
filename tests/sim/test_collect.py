"""Data collection: complete checksummed episodes, clear errors on corruption, lossless resume after a kill."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jepa_mpc.apps.cli import main
from jepa_mpc.models.atomic_io import atomic_write_json
from jepa_mpc.models.data import WindowDataset, split_episodes
from jepa_mpc.models.episodes import (
    CorruptEpisodeError,
    complete_indices,
    episode_paths,
    load_episode,
    read_dataset_meta,
    read_info,
)


def _collect(out, episodes, *extra, steps=6, seed=3):
    return main(["collect", "--env", "jepa_mpc/PandaReach-v0", "--episodes", str(episodes), "--steps", str(steps),
                 "--out", str(out), "--workers", "1", "--no-progress", "--seed", str(seed), *extra])


def test_collect_writes_complete_verified_episodes(tiny_reach_dataset):
    assert complete_indices(tiny_reach_dataset, verify=True) == [0, 1, 2]
    ep = load_episode(tiny_reach_dataset, 1)
    assert ep["image"].shape == (9, 64, 64, 3) and ep["action"].shape == (8, 8)
    assert np.all(np.abs(ep["action"]) <= 1.0)
    # Frames change as the arm moves: the recorded images are live renders, not copies.
    assert np.abs(np.diff(ep["image"].astype(np.int16), axis=0)).sum() > 0
    assert read_info(tiny_reach_dataset, 1).num_steps == 8


def test_panda_episodes_record_the_cube_and_a_wrong_cube_array_is_refused(tiny_reach_dataset, tmp_path):
    from jepa_mpc.models.episodes import write_episode

    ep = load_episode(tiny_reach_dataset, 0)
    assert ep["cube_pos"].shape == (9, 3) and ep["cube_pos"].dtype == np.float32
    assert 0.4 < ep["cube_pos"][0, 0] < 0.7 and abs(ep["cube_pos"][0, 2] - 0.025) < 1e-3  # on the table
    with pytest.raises(CorruptEpisodeError, match="cube_pos"):
        write_episode(tmp_path, 0, {**ep, "cube_pos": ep["cube_pos"][:-1]}, seed=0, policy="random")
    without = {k: v for k, v in ep.items() if k != "cube_pos"}  # older datasets have no cube: still valid
    write_episode(tmp_path, 0, without, seed=0, policy="random")
    assert "cube_pos" not in load_episode(tmp_path, 0)


def test_flipped_byte_is_rejected_with_clear_error(tiny_reach_dataset, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(tiny_reach_dataset, root)
    npz, _ = episode_paths(root, 0)
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(CorruptEpisodeError, match="checksum mismatch"):
        load_episode(root, 0)
    with pytest.raises(CorruptEpisodeError, match="checksum"):
        WindowDataset(root, k=2)
    assert complete_indices(root, verify=True) == [1, 2]


def test_truncated_file_and_missing_sidecar(tiny_reach_dataset, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(tiny_reach_dataset, root)
    npz, sidecar = episode_paths(root, 2)
    npz.write_bytes(npz.read_bytes()[:1000])
    with pytest.raises(CorruptEpisodeError):
        load_episode(root, 2)
    # Without checksum verification, a truncated zip still fails loudly instead of returning partial data.
    with pytest.raises(CorruptEpisodeError, match="unreadable"):
        load_episode(root, 2, verify=False)
    sidecar.unlink()
    with pytest.raises(CorruptEpisodeError, match="sidecar missing"):
        load_episode(root, 2)
    assert 2 not in complete_indices(root)


def test_resume_redoes_only_incomplete_episodes_and_matches_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    assert _collect(reference, 4) == 0
    partial = tmp_path / "partial"
    assert _collect(partial, 2) == 0  # as if killed after two episodes
    npz, sidecar = episode_paths(partial, 1)
    sidecar.unlink()  # ... and mid-way through writing episode 1
    (partial / "episodes" / ".ep_000002.npz.abc.tmp").write_bytes(b"half-written")
    assert _collect(partial, 4, "--resume") == 0
    assert complete_indices(partial, verify=True) == [0, 1, 2, 3]
    assert not list((partial / "episodes").glob(".*.tmp"))
    for i in range(4):
        a, b = load_episode(reference, i), load_episode(partial, i)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"episode {i} {key}")


def test_existing_dataset_needs_resume_and_same_settings(tiny_reach_dataset):
    with pytest.raises(SystemExit, match="--resume"):
        _collect(tiny_reach_dataset, 3, seed=7)
    with pytest.raises(SystemExit, match="different settings"):
        _collect(tiny_reach_dataset, 3, "--resume", seed=8)


def test_push_home_is_for_push_recorded_and_kept_on_resume(tmp_path):
    """--push-home changes what push episodes record, so a dataset says whether it was on, and a resume cannot
    switch it; datasets from before the flag count as collected without it."""
    def collect_push(out, *extra):
        return main(["collect", "--env", "jepa_mpc/PandaPush-v1", "--episodes", "1", "--steps", "2", "--out",
                     str(out), "--workers", "1", "--no-progress", *extra])

    with pytest.raises(SystemExit, match="--push-home needs --env jepa_mpc/PandaPush-v1"):
        _collect(tmp_path / "reach", 1, "--push-home")
    assert collect_push(tmp_path / "home", "--push-home") == 0
    assert read_dataset_meta(tmp_path / "home")["push_home"] is True
    with pytest.raises(SystemExit, match="push_home"):
        collect_push(tmp_path / "home", "--resume")
    old = tmp_path / "old"  # a dataset collected before the flag existed
    assert collect_push(old) == 0
    meta = read_dataset_meta(old)
    del meta["push_home"]
    atomic_write_json(old / "dataset.json", meta)
    assert collect_push(old, "--resume") == 0
    with pytest.raises(SystemExit, match="push_home"):
        collect_push(old, "--resume", "--push-home")


def test_killed_collection_process_resumes_without_loss(tmp_path):
    """SIGKILL a real `jepa-mpc collect` process mid-run, then --resume: every episode present and valid."""
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "jepa_mpc.apps.cli", "collect", "--env", "jepa_mpc/PandaReach-v0",
           "--episodes", "40", "--steps", "10", "--out", str(out), "--workers", "1", "--no-progress", "--seed", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "episodes").glob("ep_*.json"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = complete_indices(out, verify=True)
    assert 2 <= len(done_before) < 40, "the kill should land mid-collection"
    for i in complete_indices(out):  # nothing that claims to be complete is damaged
        load_episode(out, i)
    assert _collect(out, 40, "--resume", steps=10, seed=1) == 0
    assert complete_indices(out, verify=True) == list(range(40))


def test_window_dataset_aligns_observations_and_actions(tiny_reach_dataset):
    ds = WindowDataset(tiny_reach_dataset, k=3)
    assert len(ds) == 3 * (8 - 3 + 1)
    ep = load_episode(tiny_reach_dataset, 0)
    item = ds[2]  # episode 0, windows start at t = 2
    np.testing.assert_array_equal(item["image"].numpy(), ep["image"][2:6])
    np.testing.assert_array_equal(item["action"].numpy(), ep["action"][2:5])
    np.testing.assert_array_equal(item["ee_pos"].numpy(), ep["ee_pos"][2:6])
    assert item["image"].dtype.is_floating_point is False


def test_split_is_by_episode_and_deterministic(tiny_reach_dataset):
    train, val = split_episodes(tiny_reach_dataset, val_fraction=0.34, seed=0)
    assert sorted(train + val) == [0, 1, 2] and len(val) == 1
    assert split_episodes(tiny_reach_dataset, val_fraction=0.34, seed=0) == (train, val)


def test_not_a_dataset_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="jepa-mpc collect"):
        WindowDataset(tmp_path, k=1)


def test_cli_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "jepa_mpc.apps.cli", "--help"], capture_output=True, text=True)
    assert "collect" in out.stdout and "inspect-data" in out.stdout


def test_inspect_data_flags_corruption(tiny_reach_dataset, tmp_path, capsys):
    root = tmp_path / "copy"
    shutil.copytree(tiny_reach_dataset, root)
    assert main(["inspect-data", str(root)]) == 0
    npz, _ = episode_paths(root, 0)
    npz.write_bytes(npz.read_bytes()[:-10] + b"0123456789")
    assert main(["inspect-data", str(root)]) == 1
    assert "checksum mismatch" in capsys.readouterr().out


def test_collect_with_robot_records_that_arm_and_resume_keeps_it(tmp_path):
    """`collect --robot R` collects in ArmReach-v0 around R: the arm's joint count shapes the episodes, the dataset
    records the robot, and a resume naming another arm is refused (it would mix two arms in one dataset)."""
    out, xarm = tmp_path / "xarm", "pybullet_data:xarm/xarm6_robot.urdf"
    args = ["collect", "--robot", xarm, "--episodes", "2", "--steps", "5", "--out", str(out), "--workers", "1",
            "--no-progress"]
    assert main(args) == 0
    meta = read_dataset_meta(out)
    assert meta["env_id"] == "jepa_mpc/ArmReach-v0" and meta["robot"] == xarm
    ep = load_episode(out, 1)
    assert ep["action"].shape == (5, 6) and ep["joint_pos"].shape == (6, 6)  # six joints, no gripper entry
    assert np.abs(np.diff(ep["joint_pos"], axis=0)).max() > 1e-3  # the arm moved
    with pytest.raises(SystemExit, match="robot"):
        main([*args[:2], "panda", *args[3:4], "3", *args[5:], "--resume"])
    with pytest.raises(SystemExit, match="does not apply"):
        main(["collect", "--env", "jepa_mpc/PandaReach-v0", "--robot", xarm, "--episodes", "1", "--out",
              str(tmp_path / "x2")])
