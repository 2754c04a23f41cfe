"""How a camera frame of any size becomes the model's input: crop, then resize to the encoder's square size.

A checkpoint records the preprocessing its training frames went through (`ImagePreprocessing.to_dict` in its JSON,
`preprocessing`); whoever feeds the model a live camera (the mpc node) applies the same, and refuses a different
one with the differences spelled out (`differences`). Checkpoints from before this record were trained on frames
rendered at the model's size: the default (centre crop, area resize) leaves such a frame as it is.

Pillow does the work (measured against the alternatives in docs/benchmarks.md): crop and resize in C on uint8.
"""
from __future__ import annotations

import dataclasses

import numpy as np

CROPS = ("center", "none")
"""'center': the largest centred square (a camera's full height on a landscape frame); 'none': the whole frame,
squashed to a square. A box "x0,y0,x1,y1" (pixels, x1/y1 exclusive) is the third way."""
INTERPOLATIONS = ("area", "bilinear", "nearest")


def parse_frame_size(text: str) -> tuple[int, int]:
    """'WxH' (e.g. '640x480', sides 1..4096) -> (width, height); ValueError otherwise."""
    import re

    match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", text) if isinstance(text, str) else None
    if not match or not (0 < int(match[1]) <= 4096 and 0 < int(match[2]) <= 4096):
        raise ValueError(f"a frame size is WxH with sides in 1..4096, e.g. 640x480, got {text!r}")
    return (int(match[1]), int(match[2]))


def _parse_crop(crop) -> str | tuple[int, int, int, int]:
    if isinstance(crop, str) and crop in CROPS:
        return crop
    box = crop.split(",") if isinstance(crop, str) else crop
    try:
        x0, y0, x1, y1 = (int(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"crop must be one of {CROPS} or a box 'x0,y0,x1,y1', got {crop!r}") from None
    if not (0 <= x0 < x1 and 0 <= y0 < y1):
        raise ValueError(f"crop box must have 0 <= x0 < x1 and 0 <= y0 < y1, got {crop!r}")
    return (x0, y0, x1, y1)


@dataclasses.dataclass(frozen=True)
class ImagePreprocessing:
    """Crop, then resize to size x size with `interpolation`; uint8 RGB in and out."""

    size: int = 64
    crop: str | tuple[int, int, int, int] = "center"
    interpolation: str = "area"

    def __post_init__(self) -> None:
        if not (isinstance(self.size, int) and not isinstance(self.size, bool) and self.size > 0):
            raise ValueError(f"size must be a positive int, got {self.size!r}")
        object.__setattr__(self, "crop", _parse_crop(self.crop))
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")

    # ------------------------------------------------------------------------------------------ record
    def to_dict(self) -> dict:
        """What a checkpoint's JSON records."""
        crop = self.crop if isinstance(self.crop, str) else ",".join(str(v) for v in self.crop)
        return {"size": self.size, "crop": crop, "interpolation": self.interpolation}

    @classmethod
    def from_dict(cls, record: dict | None, size: int) -> ImagePreprocessing:
        """A checkpoint's record; None (a checkpoint from before the record) is the default at the model's size."""
        if record is None:
            return cls(size=size)
        return cls(size=int(record["size"]), crop=record["crop"], interpolation=record["interpolation"])

    @classmethod
    def of_checkpoint(cls, path, size: int) -> ImagePreprocessing:
        """What the checkpoint at `path` (any form checkpoint_paths takes) records; the default at `size` if none."""
        import json

        from jepa_mpc.models.checkpoint import checkpoint_paths

        return cls.from_dict(json.loads(checkpoint_paths(path)[1].read_text()).get("preprocessing"), size)

    def describe(self) -> str:
        crop = self.crop if isinstance(self.crop, str) else "box " + ",".join(str(v) for v in self.crop)
        return f"crop {crop}, {self.interpolation} resize to {self.size}x{self.size}"

    def differences(self, other: ImagePreprocessing) -> list[str]:
        """'name: this vs other' for every field that differs (empty: the same preprocessing)."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{name}: {mine[name]} vs {theirs[name]}" for name in mine if mine[name] != theirs[name]]

    # ------------------------------------------------------------------------------------------ apply
    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The crop box (x0, y0, x1, y1) on a width x height frame; ValueError if a fixed box does not fit."""
        if self.crop == "none":
            return (0, 0, width, height)
        if self.crop == "center":
            side = min(width, height)
            x0, y0 = (width - side) // 2, (height - side) // 2
            return (x0, y0, x0 + side, y0 + side)
        x0, y0, x1, y1 = self.crop
        if x1 > width or y1 > height:
            raise ValueError(f"crop box {self.crop} does not fit a {width}x{height} frame")
        return self.crop

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 [H, W, 3] -> uint8 [size, size, 3]; a frame that needs neither crop nor resize is returned as is."""
        from PIL import Image

        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected uint8 [H, W, 3] RGB, got {rgb.dtype} {rgb.shape}")
        height, width = rgb.shape[:2]
        box = self.box(width, height)
        if box == (0, 0, width, height) and width == height == self.size:
            return rgb
        method = {"area": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR,
                  "nearest": Image.Resampling.NEAREST}[self.interpolation]
        image = Image.fromarray(rgb)
        return np.array(image.resize((self.size, self.size), method, box=box))  # writable: torch takes it as is


JPEG_QUALITY = 90
"""The quality the sim camera encodes JPEG frames with (a common driver default)."""
COLOUR_ENCODINGS = ("rgb8", "bgr8", "jpeg", "png")
"""Camera encodings that carry colour; mono8 does not, and a colour model refuses it."""


def encode_frame(rgb: np.ndarray, fmt: str) -> bytes:
    """uint8 [H, W, 3] RGB -> JPEG (JPEG_QUALITY) or PNG bytes, as a camera driver with image_transport compresses."""
    import io

    from PIL import Image

    if fmt not in ("jpeg", "png"):
        raise ValueError(f"format must be 'jpeg' or 'png', got {fmt!r}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buffer, fmt.upper(), quality=JPEG_QUALITY)
    return buffer.getvalue()


def as_delivered(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """The frame a colour model gets from a camera publishing `encoding`: rgb8 / bgr8 carry it exactly, JPEG and PNG
    through their codec (encoded and decoded with Pillow); ValueError for mono8 (no colour), as the mpc node
    refuses it. How an in-process evaluation sees what a deployed camera would deliver."""
    import io

    from PIL import Image

    if encoding in ("rgb8", "bgr8"):
        return rgb
    if encoding in ("jpeg", "png"):
        with Image.open(io.BytesIO(encode_frame(rgb, encoding))) as image:
            return np.array(image.convert("RGB"))
    raise ValueError(f"a colour model cannot use {encoding!r} frames (one of {COLOUR_ENCODINGS})")
