"""`jepa-mpc` console entry point: one subcommand per capability, each imported only when it runs.

A subcommand is a module with `run(args) -> int` and either `Command`, a frozen dataclass whose fields are its flags
(tyro derives the parser, the help from the field docstrings), or `add_arguments(parser)` (argparse). Lazy imports
keep `jepa-mpc --help` fast and let `collect` or `train` run on a machine without ROS.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Add a line here when a capability lands.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "collect": ("jepa_mpc.apps.collect_cli", "collect exploration data in simulation (parallel, resumable), or "
                "--through-ros from a running graph into rosbag2 episodes"),
    "inspect-data": ("jepa_mpc.sim.inspect_data", "verify a dataset's checksums and print its statistics"),
    "train": ("jepa_mpc.models.train", "train the JEPA world model on a collected dataset"),
    "fit-probes": ("jepa_mpc.models.refit_probes", "refit a trained model's probes on frozen latents of more data"),
    "bench-sim": ("jepa_mpc.sim.bench_sim", "measure physics, env-step and rendering rates of the Panda scene"),
    "bringup": ("jepa_mpc.ros_nodes.bringup", "start the sim or real ROS 2 graph (same nodes and YAML as launch/)"),
    "demo": ("jepa_mpc.ros_nodes.demo", "sim arm + MPC: reach the episode's goal, save a GIF, a plot and a summary"),
    "goal": ("jepa_mpc.ros_nodes.goal_cli", "send a goal pose / goal image file, or capture the current frame as goal"),
    "eval": ("jepa_mpc.apps.eval_cli", "closed-loop success of the MPC beside baselines (table, JSON, plot, GIFs)"),
    "bench-planner": ("jepa_mpc.planner.bench", "measure plan latency p50/p99 of CEM, gradient and hybrid MPC"),
    "bench": ("jepa_mpc.ros_nodes.bench_report", "planner, encoder, training and ROS-loop speed in one report"),
    "guardrail-test": ("jepa_mpc.apps.guardrail_campaign.cli",
                       "property-based guardrail campaign on your robot and params; exit 1 on any violation"),
    "param-docs": ("jepa_mpc.apps.param_docs", "print (or --write) docs/parameters.md from the node configs"),
    "record": ("jepa_mpc.ros_nodes.recorder", "record the graph's topics to a rosbag2 MCAP file (Ctrl-C finalizes it)"),
    "replay": ("jepa_mpc.ros_nodes.replay", "publish a recorded MCAP bag with its original timing"),
    "dataset": ("jepa_mpc.ros_nodes.bag_dataset", "dataset from-bag: rosbag2 recordings of a cell -> an episode "
                "dataset for train"),
}


def build_parser() -> argparse.ArgumentParser:
    """Parser with every subcommand's arguments (imports each subcommand module)."""
    parser = argparse.ArgumentParser(prog="jepa-mpc", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, import the chosen subcommand, add its arguments, run it and return its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv or ["--help"])  # prints help, or the error listing valid commands
        return 2
    name = argv[0]
    module = importlib.import_module(SUBCOMMANDS[name][0])
    if hasattr(module, "Command"):
        import tyro

        args = tyro.cli(module.Command, args=argv[1:], prog=f"jepa-mpc {name}", description=SUBCOMMANDS[name][1])
    else:
        sub = argparse.ArgumentParser(prog=f"jepa-mpc {name}", description=SUBCOMMANDS[name][1])
        module.add_arguments(sub)
        args = sub.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
