"""`jepa-mpc dataset from-bag BAG [BAG ...] --out DATA`: rosbag2 recordings of a cell -> the episode dataset `train`
reads, from what a real cell records (camera frames, joint states, the commands sent), never simulator state.

    jepa-mpc dataset from-bag run1/ run2.mcap --out data/my_cell --robot my_arm.urdf
    jepa-mpc dataset from-bag run1/ --out data/my_cell --image-transport compressed --crop center --image-size 64

Each command the arm received (the JointTrajectoryController topic) is one control step, taken after the newest
camera frame and joint state stamped at or before it (no older than `--max-age-s`). The action between two frames
is the target change the command after the first frame made: its first point minus the previous command's, in
units of the arm's step bound (robots/arm_control.py, as the simulator's actions), plus an open gripper entry for
an arm with fingers; so an episode's first step only gives the reference target, and its frames start at the
second. Frames are cropped and resized as `--crop/--interpolation/--image-size` say, and the dataset records that
preprocessing, so `train` writes it into the checkpoint and the mpc node applies the same to the live camera.
A step without a fresh frame or joint state (or on the frame the step before used), a gap of more than
`--max-gap-periods` periods and a clock that runs backwards end an episode: actions are one period each, so an
episode is an unbroken run of steps. Each bag's episodes are numbered on from the last. The goal of an episode is
/sim/goal_image and /sim/goal_joint_states when the bag has them (a simulated cell), else its last frame and pose.
What was dropped, and why, is printed and appended to DATA/from_bag_report.json.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import math
import pathlib

import numpy as np

from jepa_mpc.models.atomic_io import atomic_write_json
from jepa_mpc.models.episodes import FORMAT, FORMAT_VERSION, complete_indices, write_episode
from jepa_mpc.models.preprocess import INTERPOLATIONS, ImagePreprocessing

COMMAND_TOPIC = "/joint_trajectory_controller/joint_trajectory"
GOAL_IMAGE_TOPIC, GOAL_JOINTS_TOPIC = "/sim/goal_image", "/sim/goal_joint_states"


@dataclasses.dataclass(frozen=True)
class Recording:
    """One bag's streams, decoded, in time order: (stamp or log time s, value) per message."""

    frames: list[tuple[float, np.ndarray]]  # header stamp, preprocessed RGB
    joints: list[tuple[float, np.ndarray, np.ndarray]]  # header stamp, positions, velocities (model convention;
    # the arm's joints, then its fingers when the driver reports them)
    commands: list[tuple[float, np.ndarray]]  # log time (commands start on receipt), first point (model conv.)
    goal_image: np.ndarray | None
    goal_joints: np.ndarray | None


def read_recording(path, robot, preprocessing: ImagePreprocessing, image_topic: str, compressed: bool | None,
                   command_topic: str, drops: collections.Counter) -> Recording:
    """Decode the topics a conversion needs from the bag at `path`; malformed messages are counted in `drops`.
    `compressed` None: the raw image topic when the bag has it, else <image_topic>/compressed."""
    from rclpy.serialization import deserialize_message

    from jepa_mpc.ros_nodes.conversions import (
        MessageError,
        frame_msg_to_rgb,
        image_msg_to_rgb,
        joint_state_to_arrays,
        stamp_to_s,
        trajectory_to_array,
    )
    from jepa_mpc.ros_nodes.recorder import message_class
    from jepa_mpc.ros_nodes.replay import open_bag

    frames, joints, commands, goal_image, goal_joints = [], [], [], None, None
    names = tuple(robot.joint_names)
    fingers = tuple(robot.finger_joint_names)
    with open_bag(path) as bag:
        types = {name: topic.type for name, topic in bag.topics.items()}
        if compressed is None:
            compressed = image_topic not in types and image_topic.rstrip("/") + "/compressed" in types
        topic = image_topic.rstrip("/") + "/compressed" if compressed else image_topic
        missing = [t for t in (topic, "/joint_states", command_topic) if t not in types]
        if missing:
            raise ValueError(f"{path}: the bag has no {missing} (it has {sorted(types)})")
        wanted = {topic, "/joint_states", command_topic, GOAL_IMAGE_TOPIC, GOAL_JOINTS_TOPIC} & set(types)
        for message in bag.messages(wanted):
            msg = deserialize_message(message.data, message_class(types[message.topic]))
            try:
                if message.topic == topic:
                    frames.append((stamp_to_s(msg.header.stamp), preprocessing.apply(frame_msg_to_rgb(msg))))
                elif message.topic == "/joint_states":
                    q, qd = joint_state_to_arrays(msg, names)
                    try:
                        q_f, qd_f = joint_state_to_arrays(msg, fingers)
                    except MessageError:  # a driver that reports its gripper elsewhere: the arm alone
                        q_f, qd_f = np.zeros(0), np.zeros(0)
                    joints.append((stamp_to_s(msg.header.stamp), np.r_[robot.from_driver(q), q_f], np.r_[qd, qd_f]))
                elif message.topic == command_topic:
                    positions, _ = trajectory_to_array(msg, names)
                    commands.append((message.log_time_ns * 1e-9, robot.from_driver(positions[0])))
                elif message.topic == GOAL_IMAGE_TOPIC:
                    goal_image = preprocessing.apply(image_msg_to_rgb(msg))
                elif message.topic == GOAL_JOINTS_TOPIC:
                    q, _ = joint_state_to_arrays(msg, names)
                    goal_joints = robot.from_driver(q)
            except (MessageError, ValueError):
                drops[f"malformed {message.topic}"] += 1
    frames.sort(key=lambda f: f[0])
    joints.sort(key=lambda j: j[0])
    return Recording(frames, joints, commands, goal_image, goal_joints)


def _latest(stamps: np.ndarray, t: float, max_age_s: float) -> int | None:
    """Index of the newest stamp <= t and no older than max_age_s, or None."""
    i = int(np.searchsorted(stamps, t, side="right")) - 1
    return i if i >= 0 and t - stamps[i] <= max_age_s else None


def episodes_of(rec: Recording, max_age_s: float, max_gap_s: float, drops: collections.Counter) -> list[list]:
    """The recording's unbroken runs of control steps: lists of (command, frame index, joint index)."""
    frame_t = np.array([t for t, _ in rec.frames])
    joint_t = np.array([t for t, *_ in rec.joints])
    episodes, current, last_t, used_frames = [], [], None, set()

    def split(reason: str) -> None:
        nonlocal current
        drops[reason] += 1
        episodes.append(current)
        current = []

    for command in rec.commands:
        t = command[0]
        if last_t is not None and (t < last_t or t - last_t > max_gap_s):
            split("episode split: clock ran backwards" if t < last_t else "episode split: gap in commands")
        last_t = t
        f, j = _latest(frame_t, t, max_age_s), _latest(joint_t, t, max_age_s)
        if f is None or j is None:
            split("step dropped, episode split: no fresh frame" if f is None else
                  "step dropped, episode split: no fresh joint state")
        elif f in used_frames:  # two commands on one frame: the second step would repeat an observation
            split("step dropped, episode split: its frame was the step before's")
        else:
            used_frames.add(f)
            current.append((command, f, j))
    episodes.append(current)
    return episodes


def episode_arrays(rec: Recording, steps: list, robot, max_step_rad: float, action_dim: int,
                   drops: collections.Counter) -> dict[str, np.ndarray]:
    """The arrays of one episode (models/episodes.py EPISODE_ARRAYS) from its steps: the frames of steps 1..N and
    the target changes of commands 1..N-1 (step 0's command is the reference the first change is taken from)."""
    targets = np.stack([command[1] for command, _, _ in steps])
    steps, steps_rad = steps[1:], np.diff(targets, axis=0)[:-1] / max_step_rad
    images = np.stack([rec.frames[f][1] for _, f, _ in steps])
    width = min(len(rec.joints[j][1]) for _, _, j in steps)  # fingers only if every step has them
    q = np.stack([rec.joints[j][1][:width] for _, _, j in steps]).astype(np.float32)
    qd = np.stack([rec.joints[j][2][:width] for _, _, j in steps]).astype(np.float32)
    clipped = int((np.abs(steps_rad) > 1.0 + 1e-6).sum())
    if clipped:
        drops["action entries clipped to the step bound"] += clipped
    action = np.clip(steps_rad, -1.0, 1.0)
    if action_dim > robot.dof:  # the gripper entry: the JTC does not command it; recorded open
        action = np.concatenate([action, np.ones((len(action), action_dim - robot.dof))], axis=1)
    poses = [robot.tool_pose(x[: robot.dof]) for x in q]
    ee_quat = np.stack([_quat_wxyz(mat) for _, mat in poses])
    goal_q = rec.goal_joints if rec.goal_joints is not None else q[-1, : robot.dof]
    return {"image": images, "joint_pos": q, "joint_vel": qd,
            "ee_pos": np.stack([pos for pos, _ in poses]).astype(np.float32), "ee_quat": ee_quat.astype(np.float32),
            "action": action.astype(np.float32), "success": np.zeros(len(steps), bool),
            "goal_image": rec.goal_image if rec.goal_image is not None else images[-1],
            "goal_pos": robot.tool_position(goal_q).astype(np.float32)}


def _quat_wxyz(mat: np.ndarray) -> np.ndarray:
    import mujoco

    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.asarray(mat, dtype=np.float64).reshape(9))
    return quat


def convert(bags: list[str], out, robot_name: str = "panda", *, preprocessing: ImagePreprocessing,
            image_topic: str = "/camera/image_raw", compressed: bool | None = None, command_topic: str = COMMAND_TOPIC,
            control_period_s: float = 0.1, max_step_rad: float = 0.05, max_age_s: float = 0.2,
            max_gap_periods: float = 2.5, min_steps: int = 4, action_dim: int | None = None) -> dict:
    """Convert `bags` into the dataset at `out` (episodes appended after any already there); returns the report.
    Every bag is opened before anything is written (one that does not open names itself); `*.partial` directories
    (an episode collect --through-ros is still recording, or lost to an interrupt) are skipped and listed."""
    from jepa_mpc.robots import load_robot
    from jepa_mpc.ros_nodes.replay import BagError, open_bag

    partial = [str(b) for b in bags if str(b).rstrip("/").endswith(".partial")]
    bags = [b for b in bags if str(b) not in partial]
    if not bags:
        raise ValueError(f"no bags to convert (skipped {len(partial)} .partial recordings)")
    for bag in bags:
        try:
            with open_bag(bag):
                pass
        except (BagError, OSError) as exc:
            raise ValueError(str(exc)) from None

    robot = load_robot(robot_name)
    out = pathlib.Path(out)
    (out / "episodes").mkdir(parents=True, exist_ok=True)
    action_dim = action_dim or robot.dof + (1 if robot.finger_joint_names else 0)
    index = max(complete_indices(out), default=-1) + 1
    report = {"bags": [], "episodes": 0, "steps": 0, "skipped_partial": partial}
    for bag in bags:
        drops: collections.Counter = collections.Counter()
        rec = read_recording(bag, robot, preprocessing, image_topic, compressed, command_topic, drops)
        kept = 0
        for steps in episodes_of(rec, max_age_s, max_gap_periods * control_period_s, drops):
            if len(steps) < min_steps + 2:  # min_steps actions need min_steps + 1 frames after the reference step
                if steps:
                    drops["steps in runs shorter than --min-steps"] += len(steps)
                continue
            arrays = episode_arrays(rec, steps, robot, max_step_rad, action_dim, drops)
            write_episode(out, index, arrays, seed=index, policy="rosbag2")
            index, kept = index + 1, kept + len(arrays["action"])
            report["episodes"] += 1
        report["steps"] += kept
        report["bags"].append({"bag": str(bag), "frames": len(rec.frames), "joint_states": len(rec.joints),
                               "commands": len(rec.commands), "steps_kept": kept, "dropped": dict(drops),
                               "goal": "recorded" if rec.goal_image is not None else "last frame"})
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "env_id": f"rosbag2/{robot.name}", "source": "rosbag2",
            "robot": robot.name, "image_size": preprocessing.size, "preprocessing": preprocessing.to_dict(),
            "control_period_s": control_period_s, "max_step_rad": max_step_rad, "policy": "rosbag2", "seed": 0,
            "episodes": index}
    atomic_write_json(out / "dataset.json", meta)
    earlier = out / "from_bag_report.json"  # conversions into this dataset before, kept
    bags_before = json.loads(earlier.read_text()).get("bags", []) if earlier.is_file() else []
    atomic_write_json(earlier, {**report, "bags": bags_before + report["bags"]})
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`jepa-mpc dataset from-bag` arguments."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("from-bag", help="rosbag2 recordings of a cell -> an episode dataset (see the module doc)")
    p.add_argument("bags", nargs="+", help="rosbag2 directories or MCAP files")
    p.add_argument("--out", required=True, type=pathlib.Path, help="dataset folder (created; episodes appended)")
    p.add_argument("--robot", default="panda", help="the arm: panda, robosuite:NAME, pybullet_data:PATH or a file")
    p.add_argument("--image-topic", default="/camera/image_raw")
    p.add_argument("--image-transport", choices=["auto", "raw", "compressed"], default="auto",
                   help="compressed: CompressedImage on <image-topic>/compressed; auto: raw when the bag has it, "
                        "else compressed")
    p.add_argument("--command-topic", default=COMMAND_TOPIC)
    p.add_argument("--image-size", type=int, default=64, help="the model's input size")
    p.add_argument("--crop", default="center", help="center | none | x0,y0,x1,y1")
    p.add_argument("--interpolation", choices=INTERPOLATIONS, default="area")
    p.add_argument("--control-period-s", type=float, default=0.1)
    p.add_argument("--max-step-rad", type=float, default=0.05, help="the arm's step bound (one action unit)")
    p.add_argument("--max-age-s", type=float, default=0.2, help="oldest frame / joint state a step may use")
    p.add_argument("--max-gap-periods", type=float, default=2.5, help="a longer gap between commands ends an episode")
    p.add_argument("--min-steps", type=int, default=4, help="shorter episodes are dropped")


def run(args: argparse.Namespace) -> int:
    """Convert, print the report."""
    for name in ("control_period_s", "max_step_rad", "max_age_s", "max_gap_periods"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            raise SystemExit(f"--{name.replace('_', '-')} must be > 0, got {value}")
    try:
        preprocessing = ImagePreprocessing(size=args.image_size, crop=args.crop, interpolation=args.interpolation)
        report = convert(args.bags, args.out, args.robot, preprocessing=preprocessing, image_topic=args.image_topic,
                         compressed={"auto": None, "raw": False, "compressed": True}[args.image_transport],
                         command_topic=args.command_topic,
                         control_period_s=args.control_period_s, max_step_rad=args.max_step_rad,
                         max_age_s=args.max_age_s, max_gap_periods=args.max_gap_periods, min_steps=args.min_steps)
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"jepa-mpc dataset from-bag: {exc}") from exc
    for bag in report["bags"]:
        print(f"{bag['bag']}: {bag['commands']} commands, {bag['frames']} frames, {bag['joint_states']} joint "  # noqa: T201
              f"states -> {bag['steps_kept']} steps; goal: {bag['goal']}")
        for reason, n in sorted(bag["dropped"].items()):
            print(f"  dropped: {reason}: {n}")  # noqa: T201
    if report["skipped_partial"]:
        print(f"skipped {len(report['skipped_partial'])} .partial recordings (being recorded, or interrupted)")  # noqa: T201
    print(f"{report['episodes']} episodes, {report['steps']} steps in {args.out} "  # noqa: T201
          f"(report: {args.out / 'from_bag_report.json'})")
    return 0 if report["episodes"] else 1


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="jepa-mpc dataset", description=__doc__.splitlines()[0])
    add_arguments(_parser)
    raise SystemExit(run(_parser.parse_args()))
