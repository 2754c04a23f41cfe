"""models/bench.py: rollout/encode latency at several batch sizes and the training-throughput helper give positive,
finite figures on a tiny model (the numbers themselves are not asserted)."""
from __future__ import annotations

import math

from jepa_mpc.models.bench import benchmark, training_throughput
from jepa_mpc.models.world_model import WorldModel
from tests.models.blob_data import tiny_model_config


def test_benchmark_times_rollout_and_each_encode_batch():
    res = benchmark(WorldModel(tiny_model_config()), samples=16, horizon=4, repeats=2, encode_batches=(1, 4))
    assert set(res) == {"rollout", "encode_1", "encode_4"}
    for figures in res.values():
        assert all(math.isfinite(v) and v > 0 for v in figures.values())
        assert figures["min"] <= figures["p50"] <= figures["p99"]


def test_training_throughput_runs_a_short_train_on_synthetic_data():
    r = training_throughput(tiny_model_config(), "cpu", steps=2, batch_size=4)
    assert r["steps"] == 2 and r["batch_size"] == 4
    assert math.isfinite(r["windows_per_s"]) and r["windows_per_s"] > 0
