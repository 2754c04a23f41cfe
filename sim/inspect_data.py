"""`jepa-mpc inspect-data`: verify every episode's checksum and print what a dataset holds."""
from __future__ import annotations

import argparse
import collections
import json
import pathlib

import numpy as np

from jepa_mpc.models.episodes import CorruptEpisodeError, complete_indices, load_episode, read_dataset_meta, read_info


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=pathlib.Path, help="dataset folder written by `jepa-mpc collect`")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def summarize(root: pathlib.Path) -> dict:
    """Counts, success rates per policy, action statistics and the list of damaged episodes."""
    meta = read_dataset_meta(root)
    bad, steps, policies, successes, actions = [], 0, collections.Counter(), collections.Counter(), []
    for i in complete_indices(root):
        try:
            ep = load_episode(root, i)
        except CorruptEpisodeError as exc:
            bad.append(str(exc))
            continue
        info = read_info(root, i)
        steps += info.num_steps
        policies[info.policy] += 1
        successes[info.policy] += info.success
        actions.append(ep["action"])
    acts = np.concatenate(actions).astype(np.float64) if actions else np.zeros((0, 1))
    return {
        "env_id": meta["env_id"], "requested": meta["episodes"], "complete": sum(policies.values()),
        "corrupt": bad, "steps": steps, "episodes_by_policy": dict(policies),
        "success_rate_by_policy": {p: successes[p] / n for p, n in policies.items()},
        "action_mean": acts.mean(0).round(3).tolist() if len(acts) else [],
        "action_std": acts.std(0).round(3).tolist() if len(acts) else [],
    }


def run(args: argparse.Namespace) -> int:
    summary = summarize(args.data)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:24s} {value}")
    return 1 if summary["corrupt"] else 0
