"""`jepa-mpc train`: train the JEPA world model on a collected dataset, then fit probes on its frozen latents.

    jepa-mpc train --data /work/data/reach_v0 --out runs/reach_vicreg [--objective vicreg|ema] [--resume]
    torchrun --nproc-per-node 4 -m jepa_mpc.models.train --data ... --out ...      (multi-GPU, same script)

RUN gets checkpoints/ (resumable), tb/ (TensorBoard), model.safetensors + model.json (the world model with its
probes) and metrics.json. Training stops with CollapseError if the latents collapse.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import pathlib
import random
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from jepa_mpc.models.atomic_io import atomic_write_json
from jepa_mpc.models.checkpoint import save_checkpoint
from jepa_mpc.models.config import (
    EncoderConfig,
    PredictorConfig,
    TrainConfig,
    WorldModelConfig,
    add_config_arguments,
    config_from_dict,
    config_to_dict,
    given_arguments,
)
from jepa_mpc.models.data import WindowDataset, held_out_windows, split_episodes
from jepa_mpc.models.device import resolve_device
from jepa_mpc.models.episodes import complete_indices, load_episode, read_dataset_meta
from jepa_mpc.models.evaluation import fit_probes, frames_of, push_response, rollout_errors
from jepa_mpc.models.monitors import CollapseDetector, CollapseError, covariance_spectrum, latent_stats
from jepa_mpc.models.objective import JepaObjective, ema_momentum_at, lr_at
from jepa_mpc.models.run_state import dataset_fingerprint, load_train_state, read_manifest, save_train_state

log = logging.getLogger(__name__)

# Fields that may differ from the stored config when resuming (they do not change the computation).
RESUME_OVERRIDES = ("data", "out", "steps", "device", "workers", "progress")


@dataclasses.dataclass
class TrainResult:
    """What one call to `train` did."""

    steps_done: int
    history: list[dict]  # one entry of logged scalars per log_every steps
    val: dict  # last validation rollout errors
    probes: dict  # probe report (empty if training stopped early)
    model_path: pathlib.Path | None
    windows_per_s: float


def train(cfg: TrainConfig, model_cfg: WorldModelConfig, *, resume: bool = False,
          stop_at: int | None = None) -> TrainResult:
    """Train (or with `resume` continue) a run; stop after step `stop_at` if given (checkpointed, resumable)."""
    rank, world, device = _setup_distributed(cfg)
    main = rank == 0
    _seed_everything(cfg.seed)
    out = pathlib.Path(cfg.out)
    fingerprint = dataset_fingerprint(cfg.data)
    train_eps, val_eps = split_episodes(cfg.data, cfg.val_fraction, cfg.seed)
    train_ds = WindowDataset(cfg.data, cfg.rollout_steps, train_eps, progress=main and cfg.progress)
    val_ds = held_out_windows(cfg.data, val_eps, cfg.eval_horizon)
    _check_data(model_cfg, train_ds)

    objective = JepaObjective(model_cfg, cfg, aux_state_dim=_aux_state_dim(cfg, train_ds))
    objective.model.encoder.set_normalization(*_data_statistics(train_ds, model_cfg))
    if cfg.aux_state:
        states = frames_of(train_ds, 2000, cfg.aux_state)
        objective.set_state_normalization([torch.as_tensor(states[key]) for key in cfg.aux_state])
    objective.sync_target()
    objective.to(device)
    opt = torch.optim.AdamW(objective.trainable_parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    detector = CollapseDetector(cfg.collapse_threshold, cfg.collapse_patience)
    start = _restore(out, objective, opt, detector, device, fingerprint) if resume else 0
    model = objective.export_model()  # shares weights with the objective: the view that is evaluated and saved
    net = objective if world == 1 else torch.nn.parallel.DistributedDataParallel(
        objective, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True)
    stream = _batches(train_ds, sampler, cfg.batch_size, start, cfg.workers, device)
    key = model_cfg.encoder.proprio_key
    monitor = frames_of(val_ds, 512, ("image",) + (() if key == "none" else (key,)))  # fixed collapse-check frames
    amp = device.type == "cuda" and cfg.bf16  # bf16 autocast on GPUs only
    writer = _writer(out, start) if main else None
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="train", unit="step",
               disable=not (main and cfg.progress), file=sys.stderr, dynamic_ncols=True)
    history, val, step_time, done = [], {}, 0.0, start
    try:
        for step in bar:
            t0 = time.perf_counter()
            batch = next(stream)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, cfg)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss, logs = net(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(objective.trainable_parameters(), cfg.grad_clip)
            opt.step()
            objective.update_target(ema_momentum_at(step + 1, cfg))
            done = step + 1
            step_time += time.perf_counter() - t0
            if done % cfg.log_every == 0 or done == cfg.steps:
                # CPU-GPU sync point: scalars and the collapse check (same frames and weights on every rank).
                z = _encode_monitor(model, monitor, key)
                row = {"step": done, "lr": lr_at(step, cfg), **{k: float(v) for k, v in logs.items()},
                       **{f"latent_{k}": v for k, v in latent_stats(z).items()},
                       "windows_per_s": cfg.batch_size * world * (done - start) / step_time}
                history.append(row)
                if writer:
                    _log_scalars(writer, row, z)
                bar.set_postfix(loss=f"{row['loss']:.4f}", std=f"{row['latent_mean_std']:.3f}")
                detector.update(row["latent_mean_std"], done)  # raises CollapseError
            if done % cfg.eval_every == 0 or done == cfg.steps:
                val = rollout_errors(model, val_ds)
                if writer:
                    _log_rollout(writer, val, done)
                last = history[-1] if history else {}
                log.info("step %d/%d: loss %.4f, latent std %.3f, eff. rank %.1f; val rollout error / latent var: "
                         "h1 %.4f, h%d %.4f (nothing-moves baseline %.4f)", done, cfg.steps, last.get("loss", np.nan),
                         last.get("latent_mean_std", np.nan), last.get("latent_effective_rank", np.nan),
                         val["normalized"][0], len(val["mse"]), val["normalized"][-1],
                         val["copy_mse"][-1] / val["latent_var"])
            if done % cfg.checkpoint_every == 0 or done in (cfg.steps, stop_at):
                if main:
                    _save(out, objective, opt, detector, done, device, {
                        "train_config": config_to_dict(cfg), "model_config": config_to_dict(model_cfg),
                        "data_fingerprint": fingerprint})
                if world > 1:
                    dist.barrier()  # nobody runs ahead of a checkpoint being written
            if done == stop_at:
                break
        speed = cfg.batch_size * world * (done - start) / max(step_time, 1e-9)
        result = TrainResult(done, history, val, {}, None, speed)
        if done == cfg.steps and main:  # finished: probes on frozen latents, then the deployable checkpoint
            val = val or rollout_errors(model, val_ds)
            probes, result.probes = fit_probes(model, train_ds, val_ds, kind=cfg.probe_kind, seed=cfg.seed)
            model = model.with_probes(probes)
            metrics = {"val_rollout": val, "probes": result.probes, "windows_per_s": speed, "steps": done}
            response = push_response(model, val_ds)  # Push data only: how much of a push the model predicts
            if response is not None:
                metrics["push_response"] = response
            result.model_path = save_checkpoint(out / "model", model, train_config=cfg,
                                                data_fingerprint=fingerprint, metrics=metrics,
                                                preprocessing=read_dataset_meta(cfg.data).get("preprocessing"))
            atomic_write_json(out / "metrics.json", metrics)
            for k, v in result.probes.items():
                if writer:
                    writer.add_scalar(f"probe/{k}", v, done)
        return result
    finally:
        bar.close()
        if writer:
            writer.close()


def _setup_distributed(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    """(rank, world size, device); under torchrun (WORLD_SIZE > 1) joins the process group, one GPU per rank."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    device = resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", 0)) if world > 1 else None)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def _save(out: pathlib.Path, objective: JepaObjective, opt: torch.optim.Optimizer, detector: CollapseDetector,
          step: int, device: torch.device, info: dict) -> None:
    """Resumable state after `step`: all weights, optimizer moments, RNG, collapse strikes."""
    state = {"objective": objective.state_dict(), "optimizer": opt.state_dict(), "step": step,
             "strikes": detector.strikes, "rng_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(device)
    save_train_state(out, step, state, info)


def _restore(out: pathlib.Path, objective: JepaObjective, opt: torch.optim.Optimizer, detector: CollapseDetector,
             device: torch.device, fingerprint: dict) -> int:
    """Load the run's last state into the given objects; returns the step to continue from."""
    state, manifest = load_train_state(out, map_location=device)
    if manifest["data_fingerprint"]["sha256"] != fingerprint["sha256"]:
        raise RuntimeError(f"--resume: {fingerprint['path']} is not the dataset {out} was trained on "
                           f"({manifest['data_fingerprint']})")
    objective.load_state_dict(state["objective"])
    opt.load_state_dict(state["optimizer"])
    detector.strikes = int(state["strikes"])
    torch.set_rng_state(state["rng_cpu"].cpu())
    if device.type == "cuda" and "rng_cuda" in state:
        torch.cuda.set_rng_state(state["rng_cuda"].cpu(), device)
    log.info("resumed %s at step %d", out, state["step"])
    return int(state["step"])


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def _check_data(model_cfg: WorldModelConfig, ds: WindowDataset) -> None:
    """The dataset must match the model's action and proprioception sizes."""
    item = ds[0]
    if item["action"].shape[-1] != model_cfg.action_dim:
        raise ValueError(f"dataset actions have {item['action'].shape[-1]} dims, model action_dim is "
                         f"{model_cfg.action_dim}")
    key = model_cfg.encoder.proprio_key
    if key != "none" and item[key].shape[-1] != model_cfg.encoder.proprio_dim:
        raise ValueError(f"dataset {key} has {item[key].shape[-1]} dims, encoder proprio_dim is "
                         f"{model_cfg.encoder.proprio_dim}")


def _aux_state_dim(cfg: TrainConfig, ds: WindowDataset) -> int:
    """Total size of the recorded arrays the aux state head reads (0: none); a clear error if the data lacks one."""
    missing = [key for key in cfg.aux_state if key not in ds.obs_keys]
    if missing:
        raise ValueError(f"aux_state {missing}: not every episode of {cfg.data} records it "
                         f"(windows have {list(ds.obs_keys)})")
    item = ds[0]
    return sum(item[key].shape[-1] for key in cfg.aux_state)


def _data_statistics(ds: WindowDataset, model_cfg: WorldModelConfig) -> tuple[torch.Tensor, ...]:
    """Pixel mean/std per channel (in [0,1] units) and proprio mean/std, from up to 2000 training frames."""
    key = model_cfg.encoder.proprio_key
    frames = frames_of(ds, 2000, ("image",) + (() if key == "none" else (key,)))
    pixels = torch.as_tensor(frames["image"]).float().div(255.0).reshape(-1, 3)
    stats = [pixels.mean(0), pixels.std(0)]
    if key != "none":
        p = torch.as_tensor(frames[key]).float()
        stats += [p.mean(0), p.std(0)]
    return tuple(stats)


def _batches(ds: WindowDataset, sampler: DistributedSampler, batch_size: int, start_step: int, workers: int,
             device: torch.device):
    """Batches forever from step `start_step` on, in exactly the order an uninterrupted run sees them."""
    per_epoch = len(sampler) // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch_size {batch_size} is larger than the {len(sampler)} training windows per process")
    epoch, offset = divmod(start_step, per_epoch)
    while True:
        sampler.set_epoch(epoch)
        order = list(sampler)
        chunks = [order[i * batch_size : (i + 1) * batch_size] for i in range(offset, per_epoch)]
        # Own generator: creating a loader must not draw from the global RNG (that would break bit-exact resume).
        loader = DataLoader(ds, batch_sampler=chunks, num_workers=workers, pin_memory=device.type == "cuda",
                            generator=torch.Generator().manual_seed(sampler.seed + epoch))
        for batch in loader:
            yield {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        epoch, offset = epoch + 1, 0


@torch.no_grad()
def _encode_monitor(model, frames: dict[str, np.ndarray], key: str) -> torch.Tensor:
    """Latents [N,D] of the fixed validation frames used by the collapse monitor (`key`: proprio array or 'none')."""
    image = torch.as_tensor(frames["image"])
    proprio = None if key == "none" else torch.as_tensor(frames[key])
    return torch.cat([model.encode(image[i : i + 256], None if proprio is None else proprio[i : i + 256]).float()
                      for i in range(0, len(image), 256)])


def _writer(out: pathlib.Path, start: int):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(out / "tb"), purge_step=start or None)


def _log_rollout(writer, val: dict, step: int) -> None:
    """Validation rollout error vs horizon, normalised by the latent variance, next to the copy baseline."""
    for h, (err, base) in enumerate(zip(val["normalized"], val["copy_mse"], strict=True), start=1):
        writer.add_scalar(f"val/rollout_err_norm_h{h:02d}", err, step)
        writer.add_scalar(f"val/copy_baseline_norm_h{h:02d}", base / val["latent_var"], step)


def _log_scalars(writer, row: dict, z: torch.Tensor) -> None:
    """Training scalars, latent collapse monitors, per-dim std and covariance spectrum."""
    step = row["step"]
    for key, value in row.items():
        if key != "step":
            group = "latent" if key.startswith("latent_") else "perf" if key == "windows_per_s" else "train"
            writer.add_scalar(f"{group}/{key.removeprefix('latent_')}", value, step)
    writer.add_histogram("latent/std_per_dim", z.std(0).cpu(), step)
    eig = covariance_spectrum(z).cpu()
    writer.add_histogram("latent/cov_eigenvalues", eig, step)
    writer.add_scalar("latent/cov_eig_top5_share", float(eig[:5].sum() / eig.sum().clamp_min(1e-12)), step)


# -------------------------------------------------------------------------------------------------------- CLI

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every TrainConfig / WorldModelConfig field as a flag (defaults in --help)."""
    add_config_arguments(parser, TrainConfig)
    add_config_arguments(parser, WorldModelConfig, skip=("action_dim", "probes", "critic_hidden"))
    add_config_arguments(parser, EncoderConfig, prefix="encoder_", skip=("image_size", "proprio_dim"))
    add_config_arguments(parser, PredictorConfig, prefix="predictor_")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint "
                        "(stored configs are used; only --steps/--device/--workers/--progress may change)")
    parser.add_argument("--stop-at", type=int, default=None, help="stop after this step (checkpointed); continue "
                        "later with --resume")


def configs_from_args(args: argparse.Namespace) -> tuple[TrainConfig, WorldModelConfig, bool]:
    """(train config, model config, resume?) from the flags, or from the run's stored configs with --resume."""
    given = given_arguments(args, TrainConfig)
    out = given.get("out")
    if not out:
        raise ValueError("--out RUN is required")
    manifest = read_manifest(out)
    if args.resume and manifest is not None:
        stored = config_from_dict(TrainConfig, manifest["train_config"])
        changed = {k: v for k, v in given.items() if k not in RESUME_OVERRIDES and v != getattr(stored, k)}
        if changed:
            raise ValueError(f"--resume continues {out} with its stored config; these flags differ: {changed}")
        cfg = dataclasses.replace(stored, **{k: v for k, v in given.items() if k in RESUME_OVERRIDES})
        return cfg, config_from_dict(WorldModelConfig, manifest["model_config"]), True
    if manifest is not None:
        raise ValueError(f"{out} already holds a training run; pass --resume to continue it or choose a new --out")
    if args.resume:
        log.warning("--resume: %s has no checkpoint yet, starting a new run", out)
    if not given.get("data"):
        raise ValueError("--data DIR is required (a dataset from `jepa-mpc collect`)")
    cfg = TrainConfig(**given)
    indices = complete_indices(cfg.data)
    if not indices:
        raise FileNotFoundError(f"{cfg.data} holds no complete episodes")
    ep = load_episode(cfg.data, indices[0])
    wm = given_arguments(args, WorldModelConfig)
    enc = given_arguments(args, EncoderConfig, prefix="encoder_")
    key = enc.get("proprio_key", "none")
    encoder = EncoderConfig(image_size=ep["image"].shape[1], proprio_dim=0 if key == "none" else ep[key].shape[-1],
                            **enc)
    wm.setdefault("latent_norm", cfg.objective == "ema")
    model_cfg = WorldModelConfig(action_dim=ep["action"].shape[-1], encoder=encoder,
                                 predictor=PredictorConfig(**given_arguments(args, PredictorConfig, "predictor_")),
                                 **wm)
    return cfg, model_cfg, False


def run(args: argparse.Namespace) -> int:
    """Entry point of `jepa-mpc train`; exit code 3 on representation collapse."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg, model_cfg, resume = configs_from_args(args)
    except (ValueError, FileNotFoundError) as exc:  # bad flags or data: a message, not a traceback
        raise SystemExit(f"jepa-mpc train: {exc}") from exc
    try:
        result = train(cfg, model_cfg, resume=resume, stop_at=args.stop_at)
    except CollapseError as exc:
        log.error("%s", exc)
        return 3
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if result.model_path is not None:
        log.info("world model saved to %s (%.1f windows/s); probes: %s", result.model_path, result.windows_per_s,
                 result.probes)
    return 0


if __name__ == "__main__":  # torchrun -m jepa_mpc.models.train ...
    _parser = argparse.ArgumentParser(prog="jepa_mpc.models.train", description=__doc__.splitlines()[0])
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
