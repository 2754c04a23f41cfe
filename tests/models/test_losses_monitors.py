"""Anti-collapse losses and collapse monitors, on hand-built inputs with known answers."""
from __future__ import annotations

import pytest
import torch

from jepa_mpc.models.losses import covariance_loss, kl_standard_normal, prediction_error, variance_loss
from jepa_mpc.models.monitors import CollapseDetector, CollapseError, effective_rank, latent_stats


def test_variance_hinge_is_zero_above_one_and_one_for_constants():
    g = torch.Generator().manual_seed(0)
    spread = torch.randn(4096, 8, generator=g) * 3.0
    assert float(variance_loss(spread)) == 0.0
    assert float(variance_loss(torch.ones(64, 8))) == pytest.approx(1.0, abs=0.02)  # std 0 -> hinge 1 - ~0


def test_covariance_penalises_correlated_dimensions_only():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8192, 4, generator=g)
    assert float(covariance_loss(x)) < 0.01
    correlated = torch.cat([x[:, :1]] * 4, dim=1)  # four copies of one dimension: off-diagonal cov = 1
    assert float(covariance_loss(correlated)) == pytest.approx(12 / 4, rel=0.1)


def test_prediction_error_per_step_and_kl():
    pred, target = torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    target[:, 2] = 2.0
    assert prediction_error(pred, target).tolist() == [0.0, 0.0, 4.0]
    assert float(kl_standard_normal(torch.zeros(5, 3), torch.zeros(5, 3))) == 0.0
    assert float(kl_standard_normal(torch.ones(5, 3), torch.zeros(5, 3))) == pytest.approx(1.5)


def test_effective_rank_of_isotropic_vs_rank_one():
    g = torch.Generator().manual_seed(0)
    assert effective_rank(torch.randn(4096, 16, generator=g)) > 14.0
    direction = torch.randn(1, 16, generator=g)
    assert effective_rank(torch.randn(512, 1, generator=g) * direction) == pytest.approx(1.0, abs=0.05)
    assert effective_rank(torch.ones(10, 16)) == 0.0


def test_latent_stats_of_constant_latents_report_collapse():
    stats = latent_stats(torch.full((100, 8), 0.3))
    assert stats["mean_std"] == 0.0 and stats["min_std"] == 0.0


def test_collapse_detector_needs_consecutive_strikes():
    det = CollapseDetector(threshold=0.1, patience=3)
    det.update(0.01, 1)
    det.update(0.01, 2)
    det.update(0.5, 3)  # a healthy check resets the count
    det.update(0.01, 4)
    det.update(float("nan"), 5)  # NaN counts as collapsed
    with pytest.raises(CollapseError, match=r"step 6.*below 0.1 for 3 consecutive"):
        det.update(0.0, 6)
