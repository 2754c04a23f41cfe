"""`jepa-mpc collect`: exploration data, in the simulator (sim/collect.py) or, with --through-ros, from a running
ROS graph through its safety filter into rosbag2 episodes (ros_nodes/ros_collect.py). The one entry point that may
import both layers."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from jepa_mpc.ros_nodes import ros_collect
    from jepa_mpc.sim import collect

    collect.add_arguments(parser)
    ros_collect.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.through_ros:
        from jepa_mpc.ros_nodes import ros_collect

        return ros_collect.run(args)
    from jepa_mpc.sim import collect

    return collect.run(args)
