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
import time

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
    bring lifecycle nodes with `autostart` (the default) to active, as a launch file's lifecycle manager would;
    one with autostart false stays unconfigured for a lifecycle manager to drive through its ~/change_state
    service. Nodes sharing this process get a short GIL switch interval (IN_PROCESS_SWITCH_INTERVAL_S)."""
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
            if isinstance(node, LifecycleNode) and getattr(getattr(node, "cfg", None), "autostart", True):
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
    """Spin all nodes in one process until Ctrl-C / SIGTERM, `stop` is set, or `duration_s` passes; then tear the
    graph down in the safe order (teardown_graph). `extra_args`: more rclpy arguments after the parameter file.

    While the nodes start, Ctrl-C keeps rclpy's meaning (the context shuts down, so a wait for /robot_description
    ends) and the command returns 0. Once they run, SIGINT and SIGTERM only set `stop`: the context stays valid
    until the planning threads have stopped, so no node publishes after its context is gone."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    from jepa_mpc.ros_nodes.robot_param import NodeStartupError

    context = rclpy.Context()
    rclpy.init(args=[*ros_args(params), *extra_args], context=context)
    stop = stop or threading.Event()
    nodes, executor = [], None
    try:
        try:
            nodes = create_nodes(specs, context)
        except (KeyboardInterrupt, ExternalShutdownException):
            return 0  # stopped while starting: create_nodes took down what had started
        except NodeStartupError:
            if not context.ok():
                return 0  # the wait for a robot description was cut short by Ctrl-C
            raise
        executor = MultiThreadedExecutor(num_threads=4, context=context)
        for node in nodes:
            executor.add_node(node)
        timer = threading.Timer(duration_s, stop.set) if duration_s > 0 else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        with _signals_set(stop, (signal.SIGINT, signal.SIGTERM)):
            try:
                while not stop.is_set() and context.ok():
                    executor.spin_once(timeout_sec=0.1)
            except (KeyboardInterrupt, ExternalShutdownException):
                pass
        if timer is not None:
            timer.cancel()
    finally:
        teardown_graph(context, executor, nodes)
    return 0


@contextlib.contextmanager
def _signals_set(event: threading.Event, signals):
    """Within the block, each of `signals` sets `event` instead of its usual action (main thread only: elsewhere
    Python cannot install handlers, and the block changes nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: event.set()) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
    """One child process per node, until all have exited, `duration_s` passed, or Ctrl-C / SIGTERM arrives (both
    are handled: SIGTERM's default would end this process and leave the children running); then each child still
    running gets SIGINT (stop_node_processes). 0 when all exited cleanly.

    Ctrl-C in a terminal reaches the children too; they get CHILD_GRACE_S to stop on their own first, since a second
    SIGINT while a node is shutting down interrupts its cleanup (a KeyboardInterrupt traceback)."""
    stop = threading.Event()
    with _signals_set(stop, (signal.SIGINT, signal.SIGTERM)):
        children = start_node_processes(specs, params, extra_args)
        try:
            deadline = time.monotonic() + duration_s if duration_s > 0 else float("inf")
            while not stop.is_set() and time.monotonic() < deadline and any(c.poll() is None for c in children):
                stop.wait(0.1)
            if stop.is_set():
                let_children_stop(children)
        finally:
            clean = stop_node_processes(children)
    return 0 if clean else 1


CHILD_GRACE_S = 3.0
"""How long node processes get to stop on their own after a Ctrl-C before they are sent SIGINT."""


def let_children_stop(children: list[subprocess.Popen], timeout_s: float = CHILD_GRACE_S) -> None:
    """Wait up to timeout_s for the children a Ctrl-C reached too to exit on their own: a second SIGINT while a
    node shuts down interrupts its cleanup (a KeyboardInterrupt traceback)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and any(c.poll() is None for c in children):
        time.sleep(0.05)


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
