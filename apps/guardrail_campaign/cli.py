"""`jepa-mpc guardrail-test`: the campaign's command line (add_arguments / run).

`--robot` picks the arm (a name such as `panda`, `robosuite:ur5e`, `pybullet_data:xarm/xarm6_robot.urdf`, or a
URDF/MJCF file). `--params` is the cell's ROS 2 YAML parameter file; without it the campaign tests the planner's
defaults for the robot (limits from its description, the workspace box derived from its reach; see params.py).
At least one of the two is needed; with both, the file's configs are checked on the robot given.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import torch

from jepa_mpc.apps.guardrail_campaign.campaign import DEFAULT_MPC_FRACTION, EXPLORERS, run_campaign
from jepa_mpc.apps.guardrail_campaign.cases import CATEGORIES
from jepa_mpc.apps.guardrail_campaign.params import CampaignParams, load_params
from jepa_mpc.apps.guardrail_campaign.report import format_report
from jepa_mpc.apps.guardrail_campaign.runners import CampaignSetup


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params",
        type=pathlib.Path,
        default=None,
        help="ROS 2 YAML parameter file (e.g. launch/real_arm.yaml or your cell's copy); "
        "default with --robot: the planner's defaults for that robot",
    )
    parser.add_argument(
        "--robot",
        type=str,
        default=None,
        help="the arm: panda, robosuite:NAME, pybullet_data:PATH, or a URDF/MJCF file "
        "(default: the params file's robot_description, else the embedded Panda)",
    )
    parser.add_argument(
        "--checkpoint",
        type=str,
        default=None,
        help="world-model checkpoint (default: the file's mpc.checkpoint, else the shipped one, which is the "
        "embedded Panda's; other arms without one plan with a kinematic NullWorldModel)",
    )
    parser.add_argument("--cases", type=int, default=10_000, help="cases in all (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (fixed: reproducible)")
    parser.add_argument(
        "--mpc-fraction",
        type=float,
        default=DEFAULT_MPC_FRACTION,
        help=f"share of cases run through the full MPC (default {DEFAULT_MPC_FRACTION})",
    )
    parser.add_argument("--json", type=pathlib.Path, default=None, help="also write the report as JSON here")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-shrink", action="store_true", help="report the first counterexample unshrunk")
    parser.add_argument(
        "--explorer",
        choices=EXPLORERS,
        default="numpy",
        help="how the cases are drawn: numpy (default: a seeded generator over the same case grammar, several "
        "times faster; hypothesis still searches for and shrinks a failure) or hypothesis (every case through its "
        "engine)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also exit 1 when an exception escaped the planner (errors)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the campaign; 0: no violation, 1: violations (or errors with --strict), 2: bad arguments."""
    if args.cases < len(CATEGORIES) or not 0.0 <= args.mpc_fraction <= 1.0:
        print(f"--cases must be >= {len(CATEGORIES)} and --mpc-fraction in [0, 1]", file=sys.stderr)
        return 2
    robot = getattr(args, "robot", None)
    if args.params is None and robot is None:
        print("guardrail-test: give --params FILE (your cell's ROS 2 parameters), --robot NAME_OR_FILE, or both",
              file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, args.threads))
    try:
        params = CampaignParams.defaults(robot) if args.params is None else load_params(args.params, robot=robot)
        setup = CampaignSetup.build(params, checkpoint=args.checkpoint)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"guardrail-test: {exc}", file=sys.stderr)
        return 2
    result = run_campaign(
        setup,
        args.cases,
        seed=args.seed,
        mpc_fraction=args.mpc_fraction,
        progress=not args.no_progress,
        shrink=not args.no_shrink,
        explorer=getattr(args, "explorer", "numpy"),
    )
    print(format_report(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    if result.violations:
        return 1
    return 1 if (args.strict and result.errors) else 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(_parser)
    raise SystemExit(run(_parser.parse_args()))
