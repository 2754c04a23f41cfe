"""Probes and critic fitted on latents: accuracy on known relations, determinism, and planner-ready costs."""
from __future__ import annotations

import pytest
import torch

from jepa_mpc.models.config import ProbeConfig
from jepa_mpc.models.critic import fit_critic
from jepa_mpc.models.probes import fit_probe, probe_errors

W = torch.randn(12, 3, generator=torch.Generator().manual_seed(99))


def _data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Badly scaled latents [n,12] and a fixed affine map of them [n,3]."""
    z = torch.randn(n, 12, generator=torch.Generator().manual_seed(seed)) * torch.linspace(0.1, 5.0, 12)
    return z, z @ W + torch.tensor([0.5, -0.2, 0.3])


def test_linear_probe_recovers_a_linear_map():
    z, y = _data(2000)
    probe = fit_probe(z, y, ProbeConfig(kind="linear"), ridge=1e-6)
    z_test, y_test = _data(500, seed=1)
    errs = probe_errors(probe, z_test, y_test, baseline=y.mean(0))
    assert errs["err"] < 1e-3 * errs["baseline_err"]


def test_mlp_probe_fits_a_nonlinear_map_and_is_deterministic():
    z, _ = _data(3000)
    y = torch.stack([torch.sin(z[:, 0] * 5), z[:, 1].abs(), z[:, 2] * z[:, 3]], dim=-1)
    cfg = ProbeConfig(kind="mlp", hidden=64)
    before = torch.get_rng_state()
    probe = fit_probe(z[:2500], y[:2500], cfg, steps=600, seed=3)
    assert torch.equal(before, torch.get_rng_state())  # the caller's RNG stream is untouched
    errs = probe_errors(probe, z[2500:], y[2500:], baseline=y[:2500].mean(0))
    assert errs["mae"] < 0.35 * errs["baseline_mae"]
    again = fit_probe(z[:2500], y[:2500], cfg, steps=600, seed=3)
    ref, got = probe.state_dict(), again.state_dict()
    assert all(torch.equal(ref[k], got[k]) for k in ref)


def test_probe_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="out_dim 3"):
        fit_probe(torch.randn(10, 4), torch.randn(10, 2), ProbeConfig())


def test_critic_turns_ratings_into_a_cost_that_orders_outcomes():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1500, 8, generator=g)
    rating = -(z[:, :2] - torch.tensor([1.0, -1.0])).norm(dim=-1)  # higher rating nearer a target point
    critic = fit_critic(z[:1200], rating[:1200], steps=800)
    cost = critic(z[1200:])
    assert cost.shape == (300,)
    # Held-out: the critic's cost ranks outcomes like the (negated) rating does.
    order = torch.argsort(torch.argsort(cost)).float()
    truth = torch.argsort(torch.argsort(-rating[1200:])).float()
    assert torch.corrcoef(torch.stack([order, truth]))[0, 1] > 0.9
    # It is differentiable in z, so gradient planners can use it.
    probe_z = torch.zeros(1, 8, requires_grad=True)
    critic(probe_z).sum().backward()
    assert probe_z.grad.abs().sum() > 0


def test_critic_higher_is_better_false_keeps_the_sign():
    z = torch.linspace(-1, 1, 200)[:, None].repeat(1, 4)
    critic = fit_critic(z, z[:, 0], higher_is_better=False, steps=300)
    with torch.no_grad():
        assert float(critic(z[-1:])) > float(critic(z[:1]))  # rating is a cost: larger rating, larger cost
