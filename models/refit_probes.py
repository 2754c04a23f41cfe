"""`jepa-mpc fit-probes`: refit a trained world model's probes on frozen latents of one or more datasets.

The encoder and predictor are kept as they are; only the readouts change. Use it when the states the planner must
read (a Push goal image: the cube at its goal, the arm at home) are rare in the training data but common in another
dataset. The push response (the share of a push the model predicts, read through the cube probe) is measured
again with the new probe on the first dataset's held-out episodes, so the planner's push gain stays matched.

    jepa-mpc fit-probes --checkpoint runs/push_v3_6k --data data/push_v3 data/push_v4 --out runs/push_v3_6k_home
"""
from __future__ import annotations

import argparse
import logging
import pathlib

from jepa_mpc.models.atomic_io import atomic_write_json
from jepa_mpc.models.checkpoint import checkpoint_paths, load_checkpoint, read_checkpoint_meta, save_checkpoint
from jepa_mpc.models.data import WindowDataset, held_out_windows, split_episodes
from jepa_mpc.models.episodes import CorruptEpisodeError, read_dataset_meta
from jepa_mpc.models.evaluation import fit_probes, push_response
from jepa_mpc.models.run_state import dataset_fingerprint
from jepa_mpc.models.shipped import resolve_checkpoint
from jepa_mpc.models.world_model import WorldModel

log = logging.getLogger(__name__)


def refit_probes(checkpoint: str | pathlib.Path, data: list[str | pathlib.Path], out: str | pathlib.Path, *,
                 kind: str | None = None, device: str = "auto", progress: bool = False
                 ) -> tuple[WorldModel, dict, pathlib.Path]:
    """Refit every probe of `checkpoint` on frames of `data` (each split into train / held-out episodes as the
    checkpoint's training run split its data); save the model to `out`/model. Returns (model, metrics, path)."""
    meta = read_checkpoint_meta(checkpoint)
    train_cfg = meta.get("train_config") or {}
    seed, val_fraction = int(train_cfg.get("seed", 0)), float(train_cfg.get("val_fraction", 0.1))
    kind = kind or train_cfg.get("probe_kind", "mlp")
    horizon = int(train_cfg.get("eval_horizon", 10))
    model = load_checkpoint(checkpoint, device=device)
    trains, vals = [], []
    for root in data:
        train_eps, val_eps = split_episodes(root, val_fraction, seed)
        trains.append(WindowDataset(root, 1, train_eps, progress=progress))
        vals.append(held_out_windows(root, val_eps, horizon))  # probe frames, and push-response windows
    probes, report = fit_probes(model, trains, vals, kind=kind, seed=seed)
    model = model.with_probes(probes)
    metrics = {**(meta.get("metrics") or {}), "probes": report,
               "probe_data": [dataset_fingerprint(root) for root in data]}
    response = push_response(model, vals[0])
    if response is not None:
        metrics["push_response"] = response
    else:
        metrics.pop("push_response", None)  # measured through the old probe: it no longer describes this model
    path = save_checkpoint(pathlib.Path(out) / "model", model, train_config=meta.get("train_config"),
                           data_fingerprint=meta.get("data_fingerprint"), metrics=metrics,
                           preprocessing=meta.get("preprocessing"))
    atomic_write_json(pathlib.Path(out) / "metrics.json", metrics)
    return model, metrics, path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=pathlib.Path, help="trained world model (run folder or "
                        "model file)")
    parser.add_argument("--data", required=True, nargs="+", type=pathlib.Path,
                        help="datasets to fit on; the first one's held-out episodes measure the push response")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="new run folder for the refitted model")
    parser.add_argument("--probe-kind", choices=("mlp", "linear"), default=None,
                        help="probe kind (default: the one the checkpoint was trained with)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to encode frames")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar while loading episodes")


def run(args: argparse.Namespace) -> int:
    """Entry point of `jepa-mpc fit-probes`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    weights, _ = checkpoint_paths(args.out)
    if weights.exists():
        raise SystemExit(f"jepa-mpc fit-probes: {weights} already exists; choose a new --out")
    try:
        resolve_checkpoint(args.checkpoint)
    except FileNotFoundError as exc:
        raise SystemExit(f"jepa-mpc fit-probes: no checkpoint at {args.checkpoint} ({exc})") from exc
    for root in args.data:
        try:
            read_dataset_meta(root)
        except (FileNotFoundError, CorruptEpisodeError) as exc:
            raise SystemExit(f"jepa-mpc fit-probes: {root} is not a dataset ({exc})") from exc
    _, metrics, path = refit_probes(args.checkpoint, args.data, args.out, kind=args.probe_kind, device=args.device,
                                    progress=not args.no_progress)
    response = metrics.get("push_response", {}).get("ratio")
    log.info("refitted probes saved to %s; probes: %s%s", path, metrics["probes"],
             "" if response is None else f"; push response {response:.2f}")
    return 0
