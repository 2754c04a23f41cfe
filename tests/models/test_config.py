"""Configs: JSON round trip, strict schema, documented CLI flags."""
from __future__ import annotations

import argparse
import json

import pytest

from jepa_mpc.models.config import (
    ProbeConfig,
    TrainConfig,
    WorldModelConfig,
    add_config_arguments,
    config_from_dict,
    config_to_dict,
    field_docs,
    given_arguments,
)
from tests.models.blob_data import tiny_model_config


def test_round_trip_through_json():
    cfg = tiny_model_config(probes=(ProbeConfig(name="ee_pos"), ProbeConfig(name="joint_pos", out_dim=9)))
    again = config_from_dict(WorldModelConfig, json.loads(json.dumps(config_to_dict(cfg))))
    assert again == cfg and isinstance(again.encoder.widths, tuple) and isinstance(again.probes[0], ProbeConfig)


def test_unknown_and_missing_fields_are_named():
    data = config_to_dict(TrainConfig())
    data["momentum"] = 0.9
    del data["lr"]
    with pytest.raises(ValueError, match=r"unknown fields \['momentum'\], missing fields \['lr'\]"):
        config_from_dict(TrainConfig, data)


@pytest.mark.parametrize(("field", "value"), [("objective", "simclr"), ("steps", 0), ("lr", -1.0),
                                              ("ema_momentum", 1.0), ("device", "gpu"), ("val_fraction", 0.0)])
def test_invalid_train_values_name_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"TrainConfig.{field} must be .*got {value!r}"):
        TrainConfig(**{field: value})


def test_every_field_is_documented_and_becomes_a_flag():
    for cls in (TrainConfig, WorldModelConfig):
        import dataclasses

        assert set(field_docs(cls)) == {f.name for f in dataclasses.fields(cls)}, cls
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, TrainConfig)
    assert "Anti-collapse" in parser.format_help()
    args = parser.parse_args(["--steps", "7", "--objective", "ema", "--no-bf16"])
    assert given_arguments(args, TrainConfig) == {"steps": 7, "objective": "ema", "bf16": False}


@pytest.mark.parametrize("key", ["joint_pos", "joint_vel"])
def test_encoder_reads_joint_positions_or_velocities(key):
    from jepa_mpc.models.config import EncoderConfig

    assert EncoderConfig(proprio_dim=2, proprio_key=key).proprio_key == key
    with pytest.raises(ValueError, match="proprio_key"):
        EncoderConfig(proprio_dim=2, proprio_key="joint_acc")
