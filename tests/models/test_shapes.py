"""Shapes, dtypes, devices and the planner contract of the encoder, predictor and WorldModel."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from jepa_mpc.models.config import EncoderConfig, PredictorConfig
from jepa_mpc.models.world_model import WorldModel
from jepa_mpc.planner.protocols import WorldModelLike
from tests.models.blob_data import IMAGE, tiny_model_config

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


def _images(b: int, size: int = IMAGE) -> torch.Tensor:
    return torch.randint(0, 256, (b, size, size, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("conditioning", ["adaln", "concat"])
@pytest.mark.parametrize("z_dim", [0, 4])
def test_encode_and_rollout_shapes(device, conditioning, z_dim):
    cfg = tiny_model_config(predictor=PredictorConfig(width=32, depth=2, conditioning=conditioning, z_dim=z_dim))
    wm = WorldModel(cfg).to(device)
    z = wm.encode(_images(5))
    assert z.shape == (5, cfg.latent_dim) and z.dtype == torch.float32 and z.device.type == device
    actions = torch.rand(5, 7, cfg.action_dim, device=device) * 2 - 1
    traj = wm.rollout(z, actions)
    assert traj.shape == (5, 7, cfg.latent_dim) and traj.device.type == device
    assert torch.isfinite(traj).all()


def test_rollout_equals_repeated_steps():
    torch.manual_seed(0)
    wm = WorldModel(tiny_model_config())
    for p in wm.predictor.parameters():  # move away from the identity init so the test can fail
        torch.nn.init.normal_(p, std=0.2)
    z0, actions = torch.randn(4, 16), torch.rand(4, 6, 8) * 2 - 1
    traj = wm.rollout(z0, actions)
    z = z0
    for t in range(6):
        z = wm.step(z, actions[:, t])
        torch.testing.assert_close(traj[:, t], z, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(traj[:, 0], z0)


@pytest.mark.parametrize("z_dim", [0, 3])
@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("latent_norm", [False, True])
def test_planning_rollout_equals_the_differentiable_one(z_dim, depth, latent_norm):
    """Without autograd an adaLN predictor rolls out through its inference path (fewer memory passes); it must be
    the same function as the autograd path the gradient planner and training use, latent variable and all."""
    torch.manual_seed(depth + z_dim)
    cfg = tiny_model_config(predictor=PredictorConfig(width=32, depth=depth, z_dim=z_dim))
    wm = WorldModel(dataclasses.replace(cfg, latent_norm=latent_norm) if latent_norm else cfg)
    for p in wm.predictor.parameters():  # away from the adaLN-zero init, so every term matters
        torch.nn.init.normal_(p, std=0.15)
    z0, actions = torch.randn(6, cfg.latent_dim), torch.rand(6, 9, cfg.action_dim) * 2 - 1
    u = torch.randn(6, 9, z_dim) if z_dim else None
    for given_u in ([None, u] if z_dim else [None]):
        reference = wm.predictor.rollout(z0.requires_grad_(), actions, given_u)  # autograd path
        with torch.no_grad():
            fast = wm.predictor.rollout(z0, actions, given_u)
        torch.testing.assert_close(fast, reference.detach(), rtol=1e-4, atol=1e-4)  # float32 rounding, 9 steps
        assert fast.shape == (6, 9, cfg.latent_dim) and not torch.allclose(fast[:, 0], fast[:, -1])


def test_predictor_starts_as_identity():
    wm = WorldModel(tiny_model_config())
    z0 = torch.randn(3, 16)
    torch.testing.assert_close(wm.rollout(z0, torch.zeros(3, 4, 8))[:, -1], z0)  # zero-init output layer


def test_gradients_reach_actions_of_a_frozen_model():
    wm = WorldModel(tiny_model_config()).eval().requires_grad_(False)
    for p in wm.predictor.parameters():
        torch.nn.init.normal_(p, std=0.2)
    actions = torch.zeros(2, 5, 8, requires_grad=True)
    wm.rollout(torch.randn(2, 16), actions)[:, -1].pow(2).sum().backward()
    assert actions.grad is not None and actions.grad.abs().sum() > 0


def test_satisfies_planner_protocol():
    wm = WorldModel(tiny_model_config())
    assert isinstance(wm, WorldModelLike)
    assert wm.latent_dim == 16 and wm.action_dim == 8


def test_encoder_input_checks_and_resize():
    wm = WorldModel(tiny_model_config())
    with pytest.raises(ValueError, match="uint8"):
        wm.encode(torch.rand(2, IMAGE, IMAGE, 3))
    assert wm.encode(_images(2, size=48)).shape == (2, 16)  # other camera sizes are resized


def test_proprio_encoder_requires_proprio():
    cfg = tiny_model_config(encoder=EncoderConfig(image_size=IMAGE, widths=(8, 16), proprio_dim=9,
                                                  proprio_key="joint_pos"))
    wm = WorldModel(cfg)
    assert wm.encode(_images(3), torch.randn(3, 9)).shape == (3, 16)
    with pytest.raises(ValueError, match="proprio"):
        wm.encode(_images(3))


def test_latent_norm_keeps_latents_normalised():
    wm = WorldModel(tiny_model_config(latent_norm=True))
    for p in wm.predictor.parameters():
        torch.nn.init.normal_(p, std=0.2)
    z = wm.encode(_images(4))
    traj = wm.rollout(z, torch.rand(4, 3, 8))
    for v in (z, traj[:, -1]):
        torch.testing.assert_close(v.mean(-1), torch.zeros(4), atol=1e-5, rtol=0)
        torch.testing.assert_close(v.var(-1, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)


def test_rollout_rejects_wrong_shapes():
    wm = WorldModel(tiny_model_config())
    with pytest.raises(ValueError, match="actions"):
        wm.rollout(torch.randn(2, 16), torch.randn(2, 5, 7))


def test_config_validation_names_field_and_value():
    with pytest.raises(ValueError, match=r"PredictorConfig.conditioning .*'film'"):
        PredictorConfig(conditioning="film")
    with pytest.raises(ValueError, match=r"EncoderConfig.image_size .*divisible.*30"):
        EncoderConfig(image_size=30, widths=(8, 16))
    with pytest.raises(dataclasses.FrozenInstanceError):
        PredictorConfig().width = 3  # type: ignore[misc]
