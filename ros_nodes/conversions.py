"""Pure conversions between ROS messages and arrays, with validation: bad messages raise MessageError, never crash.

Nodes call these inside their callbacks, catch MessageError, report it on /diagnostics and drop the message.
"""
from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from jepa_mpc.planner.stamps import StampStatus, stamp_age_status

SUPPORTED_ENCODINGS = {"rgb8": False, "bgr8": True}  # encoding -> channels reversed


class MessageError(ValueError):
    """A message that cannot be used (wrong names, sizes, encoding, non-finite values)."""


def stamp_to_s(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def checked_stamp_s(stamp: Time, now_s: float, max_future_s: float) -> float:
    """The stamp in seconds; MessageError when it lies more than `max_future_s` ahead of `now_s` (a clock error:
    such a message would never go stale) or is not finite (planner/stamps.py holds the rule)."""
    t = stamp_to_s(stamp)
    status = stamp_age_status(t, now_s, math.inf, max_future_s)
    if status is not StampStatus.FRESH:
        raise MessageError(f"stamp {t:.3f} s is {status.value}: {t - now_s:+.3f} s from now "
                           f"(at most {max_future_s} s ahead)")
    return t


def s_to_stamp(t: float) -> Time:
    sec = math.floor(t)
    return Time(sec=int(sec), nanosec=int(round((t - sec) * 1e9)) % 1_000_000_000)


def s_to_duration(t: float) -> Duration:
    sec = math.floor(t)
    return Duration(sec=int(sec), nanosec=int(round((t - sec) * 1e9)) % 1_000_000_000)


def rgb_to_image_msg(rgb: np.ndarray, stamp: Time, frame_id: str) -> Image:
    """uint8 [H, W, 3] RGB array -> sensor_msgs/Image (rgb8)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    msg = Image(header=Header(stamp=stamp, frame_id=frame_id), height=rgb.shape[0], width=rgb.shape[1],
                encoding="rgb8", is_bigendian=0, step=rgb.shape[1] * 3)
    msg.data = rgb.tobytes()
    return msg


def check_image_msg(msg: Image, expected_hw: tuple[int, int] | None = None) -> None:
    """Raise MessageError unless `msg` is a usable rgb8/bgr8 frame (of `expected_hw` when given). The one image
    check: the mpc node converts what passes, the safety filter node counts only what passes as a live camera."""
    if msg.encoding not in SUPPORTED_ENCODINGS:
        raise MessageError(f"image encoding {msg.encoding!r} not supported (use one of {sorted(SUPPORTED_ENCODINGS)})")
    if msg.height == 0 or msg.width == 0 or msg.step < msg.width * 3:
        raise MessageError(f"image has size {msg.width}x{msg.height} with step {msg.step}")
    if len(msg.data) != msg.step * msg.height:
        raise MessageError(f"image data has {len(msg.data)} bytes, expected step*height = {msg.step * msg.height}")
    if expected_hw is not None and (msg.height, msg.width) != tuple(expected_hw):
        raise MessageError(f"image is {msg.height}x{msg.width}, the model expects {expected_hw[0]}x{expected_hw[1]}")


def image_msg_to_rgb(msg: Image, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """sensor_msgs/Image (rgb8 or bgr8) -> uint8 [H, W, 3] RGB; raise MessageError on anything else."""
    check_image_msg(msg, expected_hw)
    rows = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)
    rgb = rows[:, : msg.width * 3].reshape(msg.height, msg.width, 3)
    return np.array(rgb[..., ::-1] if SUPPORTED_ENCODINGS[msg.encoding] else rgb)  # writable copy


def joint_state_msg(names, position, velocity, stamp: Time) -> JointState:
    """sensor_msgs/JointState with position, velocity and (zero) effort filled."""
    return JointState(header=Header(stamp=stamp), name=list(names), position=[float(v) for v in position],
                      velocity=[float(v) for v in velocity], effort=[0.0] * len(names))


def joint_state_to_arrays(msg: JointState, joint_names) -> tuple[np.ndarray, np.ndarray]:
    """(positions, velocities) in `joint_names` order; raise MessageError on missing joints or non-finite values."""
    if len(msg.position) != len(msg.name) or (msg.velocity and len(msg.velocity) != len(msg.name)):
        raise MessageError(f"joint state has {len(msg.name)} names, {len(msg.position)} positions, "
                           f"{len(msg.velocity)} velocities")
    index = {name: i for i, name in enumerate(msg.name)}
    missing = [n for n in joint_names if n not in index]
    if missing:
        raise MessageError(f"joint state lacks joints {missing} (has {list(msg.name)})")
    order = [index[n] for n in joint_names]
    q = np.asarray(msg.position, dtype=np.float64)[order]
    qd = np.asarray(msg.velocity, dtype=np.float64)[order] if msg.velocity else np.zeros(len(order))
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(qd))):
        raise MessageError("joint state holds non-finite values")
    return q, qd


def trajectory_msg(joint_names, positions: np.ndarray, period_s: float, stamp: Time) -> JointTrajectory:
    """JointTrajectory with one point per row of `positions` [N, J], the i-th reached at (i+1) * period_s."""
    points = [JointTrajectoryPoint(positions=[float(v) for v in row], time_from_start=s_to_duration((i + 1) * period_s))
              for i, row in enumerate(np.atleast_2d(positions))]
    return JointTrajectory(header=Header(stamp=stamp), joint_names=list(joint_names), points=points)


def trajectory_to_array(msg: JointTrajectory, joint_names) -> tuple[np.ndarray, np.ndarray]:
    """(positions [N, J] in `joint_names` order, times_from_start [N] s); MessageError if unusable."""
    if not msg.points:
        raise MessageError("trajectory has no points")
    index = {name: i for i, name in enumerate(msg.joint_names)}
    missing = [n for n in joint_names if n not in index]
    if missing:
        raise MessageError(f"trajectory lacks joints {missing} (has {list(msg.joint_names)})")
    order = [index[n] for n in joint_names]
    rows, times = [], []
    for point in msg.points:
        if len(point.positions) != len(msg.joint_names):
            raise MessageError(f"trajectory point has {len(point.positions)} positions for "
                               f"{len(msg.joint_names)} joints")
        rows.append(np.asarray(point.positions, dtype=np.float64)[order])
        times.append(point.time_from_start.sec + point.time_from_start.nanosec * 1e-9)
    positions = np.stack(rows)
    if not np.all(np.isfinite(positions)):
        raise MessageError("trajectory holds non-finite positions")
    return positions, np.asarray(times)


def diagnostics_msg(node_name: str, level: int, message: str, values: dict, stamp: Time) -> DiagnosticArray:
    """One-status DiagnosticArray; `level` is DiagnosticStatus.OK/WARN/ERROR/STALE."""
    level = level if isinstance(level, bytes) else bytes([level])  # the constants are bytes in Python
    status = DiagnosticStatus(level=level, name=node_name, message=message, hardware_id="jepa_mpc",
                              values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()])
    return DiagnosticArray(header=Header(stamp=stamp), status=[status])
