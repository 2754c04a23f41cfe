"""Camera frame -> model input (models/preprocess.py): the crop boxes, an exact area resize, frames already at the
model's size untouched, a record that round-trips through a checkpoint, and differences spelled out."""
from __future__ import annotations

import numpy as np
import pytest

from jepa_mpc.models.checkpoint import save_checkpoint
from jepa_mpc.models.preprocess import ImagePreprocessing
from jepa_mpc.models.world_model import WorldModel
from tests.models.blob_data import tiny_model_config


@pytest.mark.parametrize("crop, width, height, box", [
    ("center", 640, 480, (80, 0, 560, 480)), ("center", 480, 640, (0, 80, 480, 560)),
    ("center", 64, 64, (0, 0, 64, 64)), ("none", 640, 480, (0, 0, 640, 480)),
    ("10,20,110,120", 640, 480, (10, 20, 110, 120)),
])
def test_crop_boxes(crop, width, height, box):
    assert ImagePreprocessing(crop=crop).box(width, height) == box


def test_area_resize_is_the_mean_of_each_block():
    """640x480, centre crop 480x480, area resize to 64: every output pixel is the mean of a 7.5 x 7.5 block; with
    a frame constant on 15 x 15 blocks (two output pixels each way) the result is exact."""
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 80:560] = np.kron(blocks, np.ones((15, 15, 1), np.uint8))
    out = ImagePreprocessing(size=64, crop="center", interpolation="area").apply(frame)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[::2, ::2], blocks)
    np.testing.assert_array_equal(out[1::2, 1::2], blocks)


def test_a_frame_at_the_models_size_is_left_as_it_is():
    frame = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for interpolation in ("area", "bilinear", "nearest"):
        assert ImagePreprocessing(interpolation=interpolation).apply(frame) is frame


@pytest.mark.parametrize("kwargs, match", [
    ({"crop": "middle"}, "crop"), ({"crop": "5,5,5,9"}, "x0 < x1"), ({"crop": (0, 0, 1)}, "crop"),
    ({"interpolation": "cubic"}, "interpolation"), ({"size": 0}, "size"), ({"size": True}, "size"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImagePreprocessing(**kwargs)


def test_a_box_that_does_not_fit_the_frame_is_an_error_not_a_crash():
    with pytest.raises(ValueError, match="does not fit"):
        ImagePreprocessing(crop="0,0,700,100").apply(np.zeros((480, 640, 3), np.uint8))
    with pytest.raises(ValueError, match="RGB"):
        ImagePreprocessing().apply(np.zeros((480, 640), np.uint8))


def test_the_record_round_trips_through_a_checkpoint_and_differences_are_named(tmp_path):
    model = WorldModel(tiny_model_config())
    size = model.cfg.encoder.image_size
    trained = ImagePreprocessing(size=size, crop="10,0,490,480", interpolation="bilinear")
    save_checkpoint(tmp_path / "model", model, preprocessing=trained.to_dict())
    assert ImagePreprocessing.of_checkpoint(tmp_path / "model", size) == trained
    save_checkpoint(tmp_path / "old", model)  # no record: trained on frames rendered at the model's size
    assert ImagePreprocessing.of_checkpoint(tmp_path / "old", size) == ImagePreprocessing(size=size)
    assert trained.differences(trained) == []
    assert trained.differences(ImagePreprocessing(size=size)) == [
        "crop: 10,0,490,480 vs center", "interpolation: bilinear vs area"]


def test_frames_as_each_camera_encoding_delivers_them():
    from jepa_mpc.models.preprocess import as_delivered

    rng = np.random.default_rng(0)
    rgb = np.kron(rng.integers(0, 256, (12, 16, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # 96x128 blocks
    for exact in ("rgb8", "bgr8"):
        assert as_delivered(rgb, exact) is rgb
    np.testing.assert_array_equal(as_delivered(rgb, "png"), rgb)  # lossless
    jpeg = as_delivered(rgb, "jpeg")
    assert jpeg.shape == rgb.shape and jpeg.dtype == np.uint8
    error = np.abs(jpeg.astype(int) - rgb).mean()
    assert 0 < error < 12, f"JPEG at quality 90 changes a frame a little, not much: mean error {error:.1f}"
    with pytest.raises(ValueError, match="mono8"):
        as_delivered(rgb, "mono8")


@pytest.mark.parametrize(("text", "size"), [("640x480", (640, 480)), (" 1280 x 720 ", (1280, 720))])
def test_frame_sizes_parse(text, size):
    from jepa_mpc.models.preprocess import parse_frame_size

    assert parse_frame_size(text) == size


@pytest.mark.parametrize("text", ["640", "0x480", "640x0", "5000x10", "axb", "", None, 640])
def test_bad_frame_sizes_are_refused(text):
    from jepa_mpc.models.preprocess import parse_frame_size

    with pytest.raises(ValueError, match="WxH"):
        parse_frame_size(text)
