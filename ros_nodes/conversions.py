"""Pure conversions between ROS messages and arrays, with validation: bad messages raise MessageError, never crash.

Nodes call these inside their callbacks, catch MessageError, report it on /diagnostics and drop the message.
"""
from __future__ import annotations

import io
import math

import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from jepa_mpc.planner.stamps import StampStatus, stamp_age_status

ENCODINGS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
"""sensor_msgs/Image encodings a camera frame may come in -> bytes per pixel (what real drivers publish)."""
_BGR = ("bgr8", "bgra8")
COMPRESSED_FORMATS = ("jpeg", "png")
"""sensor_msgs/CompressedImage formats, as image_transport's compressed plugin writes them ("jpeg",
"rgb8; jpeg compressed bgr8", "png", ...)."""
COLOUR_ONLY = ("this model takes colour frames: publish rgb8, bgr8, rgba8, bgra8 or a colour JPEG/PNG (a mono8 or "
               "greyscale camera cannot feed it)")


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


def rgb_to_image_msg(rgb: np.ndarray, stamp: Time, frame_id: str, encoding: str = "rgb8") -> Image:
    """uint8 [H, W, 3] RGB array -> sensor_msgs/Image in rgb8, bgr8 or mono8 (ITU-R 601 luma, as cameras do)."""
    rgb = np.asarray(rgb, dtype=np.uint8)
    if encoding == "bgr8":
        pixels = rgb[..., ::-1]
    elif encoding == "mono8":
        pixels = ((rgb.astype(np.uint32) @ np.array([299, 587, 114], np.uint32) + 500) // 1000).astype(np.uint8)
    elif encoding == "rgb8":
        pixels = rgb
    else:
        raise ValueError(f"encoding must be rgb8, bgr8 or mono8, got {encoding!r}")
    pixels = np.ascontiguousarray(pixels)
    msg = Image(header=Header(stamp=stamp, frame_id=frame_id), height=rgb.shape[0], width=rgb.shape[1],
                encoding=encoding, is_bigendian=0, step=rgb.shape[1] * ENCODINGS[encoding])
    msg.data = pixels.tobytes()
    return msg


def check_image_msg(msg: Image, expected_hw: tuple[int, int] | None = None) -> None:
    """Raise MessageError unless `msg` is a well-formed frame in one of ENCODINGS (of `expected_hw` when given). The
    one image check: the mpc node converts what passes, the safety filter node counts only what passes as a live
    camera."""
    if msg.encoding not in ENCODINGS:
        raise MessageError(f"image encoding {msg.encoding!r} not supported (use one of {sorted(ENCODINGS)})")
    if msg.height == 0 or msg.width == 0 or msg.step < msg.width * ENCODINGS[msg.encoding]:
        raise MessageError(f"image has size {msg.width}x{msg.height} with step {msg.step} for {msg.encoding}")
    if len(msg.data) != msg.step * msg.height:
        raise MessageError(f"image data has {len(msg.data)} bytes, expected step*height = {msg.step * msg.height}")
    if expected_hw is not None and (msg.height, msg.width) != tuple(expected_hw):
        raise MessageError(f"image is {msg.height}x{msg.width}, the model expects {expected_hw[0]}x{expected_hw[1]}")


def image_msg_to_array(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> uint8 [H, W, 3] RGB (colour encodings, alpha dropped) or [H, W] (mono8); MessageError
    on a malformed or unsupported frame."""
    check_image_msg(msg)
    channels = ENCODINGS[msg.encoding]
    rows = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)
    pixels = rows[:, : msg.width * channels].reshape(msg.height, msg.width, channels)
    if channels == 1:
        return np.array(pixels[..., 0])
    return np.array(pixels[..., 2::-1] if msg.encoding in _BGR else pixels[..., :3])  # writable RGB copy


def check_colour_image_msg(msg: Image, expected_hw: tuple[int, int] | None = None) -> None:
    """check_image_msg, and a colour encoding (COLOUR_ONLY): a frame the models can take."""
    check_image_msg(msg, expected_hw)
    if ENCODINGS[msg.encoding] == 1:
        raise MessageError(f"{msg.encoding} frame: {COLOUR_ONLY}")


def image_msg_to_rgb(msg: Image, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """sensor_msgs/Image in a colour encoding -> uint8 [H, W, 3] RGB (of `expected_hw` when given); MessageError
    on anything else, mono8 included (COLOUR_ONLY)."""
    check_colour_image_msg(msg, expected_hw)
    return image_msg_to_array(msg)


def compressed_msg_to_rgb(msg: CompressedImage) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG or PNG, as image_transport publishes on <topic>/compressed) -> uint8
    [H, W, 3] RGB; MessageError on an unknown format, corrupt or truncated data, or a greyscale image."""
    from PIL import Image as PILImage

    fmt = msg.format.lower()
    if not any(name in fmt for name in COMPRESSED_FORMATS + ("jpg",)):
        raise MessageError(f"compressed image format {msg.format!r} not supported (use one of {COMPRESSED_FORMATS})")
    try:
        with PILImage.open(io.BytesIO(bytes(msg.data))) as image:
            image.load()  # decodes now: truncated or corrupt data raises here, not later
            if image.mode in ("L", "LA", "I", "I;16", "1"):
                raise MessageError(f"greyscale {image.format} image: {COLOUR_ONLY}")
            return np.array(image.convert("RGB"))
    except MessageError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad data
        raise MessageError(f"compressed image ({msg.format}, {len(msg.data)} bytes) does not decode: {exc}") from None


def frame_msg_to_rgb(msg: Image | CompressedImage) -> np.ndarray:
    """A camera frame as published, raw (image_msg_to_rgb) or compressed (compressed_msg_to_rgb) -> uint8 RGB."""
    return compressed_msg_to_rgb(msg) if isinstance(msg, CompressedImage) else image_msg_to_rgb(msg)


def rgb_to_compressed_msg(rgb: np.ndarray, stamp: Time, frame_id: str, fmt: str = "jpeg") -> CompressedImage:
    """uint8 [H, W, 3] RGB -> sensor_msgs/CompressedImage in image_transport's format string (models/preprocess.py
    encode_frame: JPEG at quality 90)."""
    from jepa_mpc.models.preprocess import encode_frame

    if fmt not in COMPRESSED_FORMATS:
        raise ValueError(f"format must be one of {COMPRESSED_FORMATS}, got {fmt!r}")
    return CompressedImage(header=Header(stamp=stamp, frame_id=frame_id),
                           format=f"rgb8; {fmt} compressed bgr8" if fmt == "jpeg" else f"rgb8; {fmt} compressed rgb8",
                           data=encode_frame(rgb, fmt))


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
