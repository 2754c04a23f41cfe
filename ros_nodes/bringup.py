"""`jepa-mpc bringup sim|real`: start the same graph as launch/*.launch.py from a pip install (no `launch` needed).

`--processes one` runs every node in this process on a MultiThreadedExecutor; `--processes per-node` starts one
process per node (`python -m <module> --ros-args ...`), as `ros2 launch` would. Both read the same YAML parameter
files as the launch files and stop cleanly on Ctrl-C / SIGTERM. `--robot FILE_OR_NAME` sets every node's
robot_description (over the YAML's): `jepa-mpc bringup sim --robot robosuite:ur5e` simulates that arm, and
`jepa-mpc bringup real --robot ""` makes the nodes take the description from the /robot_description topic.
A node that cannot start (e.g. a description that does not load) ends the command with its message, exit status 1.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pathlib
import signal
import subprocess
import sys
import threading

from jepa_mpc.ros_nodes.graph import GRAPHS, NodeSpec, default_params

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graph", choices=sorted(GRAPHS), help="which graph to start")
    parser.add_argument("--params", type=pathlib.Path, default=None,
                        help="YAML parameter file (default: launch/sim_arm.yaml or launch/real_arm.yaml)")
    parser.add_argument("--processes", choices=["one", "per-node"], default="one",
                        help="all nodes in this process, or one process per node")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after N seconds (0: until Ctrl-C)")
    parser.add_argument("--robot", default=None, metavar="FILE_OR_NAME",
                        help="robot_description of every node, over the YAML's: panda, robosuite:NAME, "
                             "pybullet_data:PATH, a URDF/MJCF file, or '' (wait for the /robot_description topic)")


def ros_args(params: pathlib.Path) -> list[str]:
    """rclpy command-line arguments that load `params` for every node named in it."""
    return ["--ros-args", "--params-file", str(params)]


def robot_overrides(robot: str | None, node_names=()) -> list[str]:
    """rclpy arguments (after ros_args) that set robot_description to `robot` (a name, a file path, or '' for the
    /robot_description topic) for every node, and by name for `node_names` (a node's own block in the parameter
    file beats a process-wide `-p`; a `-p NODE:` override beats both); none when `robot` is None."""
    if robot is None:
        return []
    value = _yaml_string(robot.strip())
    out = ["-p", f"robot_description:={value}"]
    for name in node_names:
        out += ["-p", f"{name}:robot_description:={value}"]
    return out


def _yaml_string(text: str) -> str:
    """`text` as a `-p name:=value` value that rcl reads as this very string (quoted when YAML would read it as
    something else: a number, a boolean, nothing)."""
    import yaml

    try:
        plain = yaml.safe_load(text) == text if text else False
    except yaml.YAMLError:
        plain = False
    return text if plain else "'" + text.replace("'", "''") + "'"


IN_PROCESS_SWITCH_INTERVAL_S = 0.001
"""The interpreter's GIL switch interval while several nodes share one process. At Python's default 5 ms a thread
that makes many short system calls (rclpy's logger resolves every stack frame's path) waits for the GIL after each
one while the executor and planning threads compute: measured on 2 cores, the frame -> command loop stalled for
2-6 s in 2 of 6 three-second runs at 5 ms, and in none of 6 at 1 ms."""


def create_nodes(specs: tuple[NodeSpec, ...], context) -> list:
    """Instantiate each node class in `context` (their parameters come from the context's --params-file) and
    bring lifecycle nodes to active, as a launch file's lifecycle manager would. Nodes sharing this process get
    a short GIL switch interval (IN_PROCESS_SWITCH_INTERVAL_S)."""
    from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

    sys.setswitchinterval(min(sys.getswitchinterval(), IN_PROCESS_SWITCH_INTERVAL_S))

    from jepa_mpc.ros_nodes.robot_param import NodeStartupError

    nodes = []
    try:
        for spec in specs:
            cls = getattr(importlib.import_module(spec.module), spec.cls)
            try:
                node = cls(spec.name, context=context)
            except (NodeStartupError, ValueError) as exc:
                raise NodeStartupError(f"node {spec.name} cannot start: {exc}") from None
            nodes.append(node)
            if isinstance(node, LifecycleNode):
                for transition in (node.trigger_configure, node.trigger_activate):
                    if transition() != TransitionCallbackReturn.SUCCESS:
                        raise NodeStartupError(f"node {spec.name} failed to {transition.__name__[8:]}; see its log")
    except BaseException:
        for node in reversed(nodes):  # the nodes that did start go again: nothing half-started stays on the graph
            if hasattr(node, "_stop_thread"):
                node._stop_thread()
            node.destroy_node()
        raise
    return nodes


def run_in_process(specs: tuple[NodeSpec, ...], params: pathlib.Path, duration_s: float = 0.0,
                   stop: threading.Event | None = None, extra_args: tuple[str, ...] = ()) -> int:
    """Spin all nodes in one process until Ctrl-C, `stop` is set, or `duration_s` passes; then shut down cleanly.
    `extra_args`: more rclpy arguments after the parameter file (e.g. robot_overrides)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    context = rclpy.Context()
    rclpy.init(args=[*ros_args(params), *extra_args], context=context)
    stop = stop or threading.Event()
    nodes = []
    try:
        nodes = create_nodes(specs, context)
        executor = MultiThreadedExecutor(num_threads=4, context=context)
        for node in nodes:
            executor.add_node(node)
        if duration_s > 0:
            threading.Timer(duration_s, stop.set).start()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if threading.current_thread() is \
            threading.main_thread() else None
        try:
            while not stop.is_set() and context.ok():
                executor.spin_once(timeout_sec=0.1)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            shutdown_executor(executor)
    finally:
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown(context=context)
    return 0


def shutdown_executor(executor, timeout_sec: float = 2.0) -> None:
    """Shut an executor down after the callbacks already queued on its worker pool have finished.

    rclpy 9.1's Executor.shutdown destroys its guard condition without waiting for them, and a late one then fails
    with InvalidHandle ("exception was never retrieved: cannot use Destroyable" at exit).
    """
    pool = getattr(executor, "_executor", None)  # MultiThreadedExecutor's concurrent.futures.ThreadPoolExecutor
    if pool is not None and hasattr(pool, "shutdown"):
        pool.shutdown(wait=True)
    executor.shutdown(timeout_sec=timeout_sec)


def teardown_graph(context, executor, nodes, extra_nodes=()) -> None:
    """Stop an in-process graph in the safe order: executor (drained), planning threads, nodes, then the context."""
    import rclpy

    if executor is not None:
        shutdown_executor(executor)
    for node in reversed(list(nodes)):
        if hasattr(node, "_stop_thread"):
            node._stop_thread()
        node.destroy_node()
    for node in extra_nodes:
        if node is not None:
            node.destroy_node()
    rclpy.try_shutdown(context=context)


def start_node_processes(specs: tuple[NodeSpec, ...], params: pathlib.Path, extra_args: tuple[str, ...] = (),
                         env: dict[str, str] | None = None) -> list[subprocess.Popen]:
    """One child process per node (`python -m <module> --ros-args --params-file params <extra_args>`)."""
    return [subprocess.Popen([sys.executable, "-m", spec.module, *ros_args(params), *extra_args,
                              "-r", f"__node:={spec.name}"], env={**os.environ, **(env or {})}) for spec in specs]


def stop_node_processes(children: list[subprocess.Popen], timeout_s: float = 10.0) -> bool:
    """SIGINT every child still running (a clean shutdown), kill those that outlast `timeout_s`; True when all
    exited cleanly."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    for child in children:
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return all(c.returncode in (0, -signal.SIGINT) for c in children)


def run_per_process(specs: tuple[NodeSpec, ...], params: pathlib.Path, duration_s: float = 0.0,
                    extra_args: tuple[str, ...] = ()) -> int:
    """One child process per node; forward Ctrl-C/SIGTERM and wait for all to exit."""
    children = start_node_processes(specs, params, extra_args)
    clean = False
    try:
        if duration_s > 0:
            with contextlib.suppress(subprocess.TimeoutExpired):
                children[0].wait(timeout=duration_s)
        else:
            for child in children:
                child.wait()
    except KeyboardInterrupt:
        pass
    finally:
        clean = stop_node_processes(children)
    return 0 if clean else 1


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = args.params or default_params(args.graph)
    if not params.is_file():
        raise SystemExit(f"parameter file {params} not found")
    from jepa_mpc.ros_nodes.robot_param import NodeStartupError

    specs = GRAPHS[args.graph]
    extra = tuple(robot_overrides(args.robot, [s.name for s in specs]))
    log.info("starting %s graph (%s) with %s%s", args.graph, ", ".join(s.name for s in specs), params,
             "" if args.robot is None else f", robot_description {args.robot or '(the /robot_description topic)'}")
    if args.processes == "one":
        try:
            return run_in_process(specs, params, args.duration, extra_args=extra)
        except NodeStartupError as exc:
            log.error("jepa-mpc bringup: %s", exc)
            return 1
    return run_per_process(specs, params, args.duration, extra_args=extra)
