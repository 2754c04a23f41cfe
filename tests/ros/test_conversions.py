"""Message conversions: round trips are exact and malformed messages raise MessageError (never crash otherwise)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("rclpy")
from sensor_msgs.msg import CompressedImage, Image, JointState  # noqa: E402

from jepa_mpc.ros_nodes.conversions import (  # noqa: E402
    ENCODINGS,
    MessageError,
    check_image_msg,
    compressed_msg_to_rgb,
    image_msg_to_array,
    image_msg_to_rgb,
    joint_state_msg,
    joint_state_to_arrays,
    rgb_to_compressed_msg,
    rgb_to_image_msg,
    s_to_stamp,
    stamp_to_s,
    trajectory_msg,
    trajectory_to_array,
)

NAMES = [f"panda_joint{i}" for i in range(1, 8)]


def test_image_round_trip_and_bgr():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    msg = rgb_to_image_msg(rgb, s_to_stamp(1.5), "cam")
    np.testing.assert_array_equal(image_msg_to_rgb(msg, (5, 7)), rgb)
    msg.encoding = "bgr8"
    np.testing.assert_array_equal(image_msg_to_rgb(msg), rgb[..., ::-1])


def test_image_with_row_padding():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :9] = rgb.reshape(2, 9)
    msg = Image(height=2, width=3, encoding="rgb8", step=12, data=padded.tobytes())
    np.testing.assert_array_equal(image_msg_to_rgb(msg), rgb)


def _raw(pixels: np.ndarray, encoding: str, pad: int = 0) -> Image:
    """An Image as a driver publishes it: pixels [H, W, C] in the encoding's channel order, rows padded by `pad`."""
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    data = np.zeros((height, rows.shape[1] + pad), np.uint8)
    data[:, : rows.shape[1]] = rows
    return Image(height=height, width=width, encoding=encoding, step=data.shape[1], data=data.tobytes())


RGB = np.random.default_rng(1).integers(0, 256, (6, 9, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding, pixels", [
    ("rgb8", RGB), ("bgr8", RGB[..., ::-1]),
    ("rgba8", np.concatenate([RGB, np.full((6, 9, 1), 7, np.uint8)], -1)),
    ("bgra8", np.concatenate([RGB[..., ::-1], np.full((6, 9, 1), 7, np.uint8)], -1)),
])
def test_every_colour_encoding_gives_the_same_rgb(encoding, pixels):
    np.testing.assert_array_equal(image_msg_to_rgb(_raw(pixels, encoding, pad=5)), RGB)


def test_mono8_is_read_as_grey_and_refused_as_colour():
    grey = RGB[..., 0]
    msg = _raw(grey[..., None], "mono8", pad=3)
    np.testing.assert_array_equal(image_msg_to_array(msg), grey)
    with pytest.raises(MessageError, match="colour"):
        image_msg_to_rgb(msg)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_frames_decode_as_image_transport_publishes_them(fmt):
    smooth = np.stack([*np.meshgrid(np.linspace(0, 255, 40), np.linspace(0, 255, 30)), np.full((30, 40), 90.0)],
                      -1).astype(np.uint8)  # JPEG keeps a smooth frame to within a few levels
    msg = rgb_to_compressed_msg(smooth, s_to_stamp(1.0), "cam", fmt)
    assert msg.format.startswith("rgb8; " + fmt)
    decoded = compressed_msg_to_rgb(msg)
    assert decoded.shape == (30, 40, 3)
    error = np.abs(decoded.astype(int) - smooth)
    assert error.max() <= (12 if fmt == "jpeg" else 0) and error.mean() < 3  # JPEG: lossy, chroma subsampled


@pytest.mark.parametrize("mutate, match", [
    (lambda m: setattr(m, "data", bytes(m.data)[: len(m.data) // 2]), "does not decode"),  # truncated
    (lambda m: setattr(m, "data", bytes(m.data[:20]) + bytes(200) + bytes(m.data[220:])), "does not decode"),
    (lambda m: setattr(m, "data", b""), "does not decode"),
    (lambda m: setattr(m, "format", "tiff"), "not supported"),
])
def test_bad_compressed_frames_are_rejected(mutate, match):
    msg = rgb_to_compressed_msg(RGB, s_to_stamp(0), "cam", "jpeg")
    mutate(msg)
    with pytest.raises(MessageError, match=match):
        compressed_msg_to_rgb(msg)


def test_a_greyscale_png_is_refused_as_colour():
    import io

    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(RGB[..., 0]).save(buffer, "PNG")
    with pytest.raises(MessageError, match="colour"):
        compressed_msg_to_rgb(CompressedImage(format="png", data=buffer.getvalue()))


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(data=st.binary(max_size=600), fmt=st.sampled_from(["jpeg", "png", "rgb8; jpeg compressed bgr8", "", "x"]))
def test_arbitrary_compressed_bytes_never_raise_anything_but_a_message_error(data, fmt):
    header = {"jpeg": b"\xff\xd8\xff\xe0", "png": b"\x89PNG\r\n\x1a\n"}.get(fmt.split(";")[0], b"")
    try:
        rgb = compressed_msg_to_rgb(CompressedImage(format=fmt, data=header + data))
    except MessageError:
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3


@pytest.mark.parametrize("mutate, match", [
    (lambda m: setattr(m, "encoding", "16UC1"), "encoding"),
    (lambda m: setattr(m, "encoding", "mono8"), "colour"),
    (lambda m: setattr(m, "data", bytes(m.data)[:-1]), "bytes"),
    (lambda m: setattr(m, "width", 0), "size"),
])
def test_bad_images_rejected(mutate, match):
    msg = rgb_to_image_msg(np.zeros((4, 4, 3), np.uint8), s_to_stamp(0), "cam")
    mutate(msg)
    with pytest.raises(MessageError, match=match):
        image_msg_to_rgb(msg)


def test_wrong_image_size_rejected():
    msg = rgb_to_image_msg(np.zeros((32, 32, 3), np.uint8), s_to_stamp(0), "cam")
    with pytest.raises(MessageError, match="expects 64x64"):
        image_msg_to_rgb(msg, (64, 64))


U32 = 2**32 - 1
# Header sizes: small, huge, and ones whose products wrap around 2^32 (a C reader computing step * height or
# width * 3 in uint32 would accept a few bytes as a giant image).
SIZES = st.one_of(st.integers(0, 8), st.integers(0, U32), st.sampled_from([2**31, 2**30 + 1, U32, 1431655766]))


def test_arbitrary_image_headers_are_accepted_exactly_when_consistent():
    """Accepted exactly when the encoding is one of ENCODINGS, the size is non-zero, step >= bytes per pixel *
    width and the data has step * height bytes (the rule written out here); then every pixel is where the header
    says. The safety filter node's liveness check (check_image_msg) agrees with the conversion on every header."""
    seen: Counter = Counter()

    @settings(max_examples=400, deadline=None, database=None, derandomize=True)
    @given(data=st.data())
    def check(data):
        consistent = data.draw(st.booleans(), label="consistent")
        if consistent:  # small but well-formed, possibly with row padding, then maybe one field broken
            height, width = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
            step = 4 * width + data.draw(st.integers(0, 5))  # enough for any encoding
            nbytes = step * height
            broken = data.draw(st.sampled_from(["none", "none", "height", "width", "step", "nbytes"]), label="broken")
            value = data.draw(SIZES, label="broken value")
            height, width, step = (value if broken == k else v for k, v in
                                   (("height", height), ("width", width), ("step", step)))
            nbytes = min(value, 4096) if broken == "nbytes" else nbytes
        else:
            height, width, step = data.draw(SIZES), data.draw(SIZES), data.draw(SIZES)
            nbytes = data.draw(st.integers(0, 4096))
        encoding = data.draw(st.sampled_from(["rgb8", "bgr8", "mono8", "rgba8", "bgra8", "16UC1", "", "RGB8"]))
        payload = np.random.default_rng(nbytes).integers(0, 256, nbytes, dtype=np.uint8).tobytes()
        msg = Image(height=height, width=width, step=step, encoding=encoding, data=payload)
        ok = (encoding in ENCODINGS and height > 0 and width > 0 and step >= ENCODINGS[encoding] * width
              and nbytes == step * height)
        try:
            check_image_msg(msg)
            checked = True
        except MessageError:
            checked = False
        assert checked == ok, (height, width, step, nbytes, encoding)
        seen["accepted" if ok else "rejected"] += 1
        seen["huge header"] += max(height, width, step) > 2**16
        try:
            pixels = image_msg_to_array(msg)
        except MessageError:
            assert not ok
            return
        assert ok
        c = ENCODINGS[encoding]
        rows = np.frombuffer(payload, np.uint8).reshape(height, step)[:, : c * width].reshape(height, width, c)
        expected = {"rgb8": rows, "bgr8": rows[..., ::-1], "rgba8": rows[..., :3], "bgra8": rows[..., 2::-1],
                    "mono8": rows[..., 0]}[encoding]
        np.testing.assert_array_equal(pixels, expected)

    check()
    assert seen["accepted"] >= 20 and seen["rejected"] >= 100 and seen["huge header"] >= 50, seen


def test_joint_state_reorders_by_name():
    q = np.arange(7.0)
    msg = joint_state_msg(NAMES[::-1] + ["panda_finger_joint1"], np.r_[q[::-1], 0.04], np.r_[q[::-1], 0], s_to_stamp(0))
    pos, vel = joint_state_to_arrays(msg, NAMES)
    np.testing.assert_array_equal(pos, q)
    np.testing.assert_array_equal(vel, q)


@pytest.mark.parametrize("names, pos, match", [
    (["wrong"] * 7, [0.0] * 7, "lacks joints"),
    (NAMES, [0.0] * 6, "names"),
    (NAMES, [0.0] * 6 + [float("nan")], "non-finite"),
    (NAMES, [0.0] * 6 + [float("inf")], "non-finite"),
])
def test_bad_joint_states_rejected(names, pos, match):
    with pytest.raises(MessageError, match=match):
        joint_state_to_arrays(JointState(name=names, position=pos), NAMES)


def test_trajectory_round_trip_and_errors():
    positions = np.random.default_rng(1).normal(size=(3, 7))
    msg = trajectory_msg(NAMES, positions, 0.1, s_to_stamp(2.0))
    got, times = trajectory_to_array(msg, NAMES)
    np.testing.assert_allclose(got, positions)
    np.testing.assert_allclose(times, [0.1, 0.2, 0.3])
    msg.points[1].positions[2] = float("nan")
    with pytest.raises(MessageError, match="non-finite"):
        trajectory_to_array(msg, NAMES)
    with pytest.raises(MessageError, match="no points"):
        trajectory_to_array(trajectory_msg(NAMES, np.zeros((0, 7)), 0.1, s_to_stamp(0)), NAMES)


@given(st.floats(0, 1e9, allow_nan=False))
def test_stamp_round_trip(t):
    assert stamp_to_s(s_to_stamp(t)) == pytest.approx(t, abs=2e-9 * max(1.0, t / 1e6))
