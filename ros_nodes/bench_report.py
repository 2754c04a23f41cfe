"""`jepa-mpc bench`: one report of planner latency, encoder throughput, training throughput and the end-to-end ROS
loop latency (camera frame stamp -> safety-filtered arm command), with the device, versions and date it ran on.

    jepa-mpc bench [--device auto|cpu|cuda] [--threads N] [--quick] [--skip-ros] [--skip-train] [--skip-planner]
                   [--skip-encoder] [--ros-seconds S] [--ros-samples K] [--ros-plan-trigger frame|timer]
                   [--ros-processes one|per-node] [--checkpoint CKPT] [--out DIR]

Each section calls the module that owns the measurement, so the figures match the single-purpose benchmarks:
planner/bench.py (full plan latency), models/bench.py (encode, rollout, training throughput) and the in-process sim
graph of ros_nodes/graph.py (the loop). rclpy is imported only by the ROS section, so `--skip-ros` runs without ROS.
`--out DIR` writes report.json and report.md (a markdown table to paste into docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import pathlib
import platform
import random
import re
import time

import numpy as np

from jepa_mpc.ros_nodes.latency import STAGES
from jepa_mpc.tasks import REACH

IMAGE_PLANNING = REACH.planning_for("image")
IMAGE_SIZE = 64  # the shipped model's input

log = logging.getLogger(__name__)

SECTIONS = ("planner", "encoder", "training", "ros")


@dataclasses.dataclass(frozen=True)
class BenchSettings:
    """How much of each measurement to run; FULL (the shipped planning horizon) for the committed table, QUICK for
    tests and smoke checks."""

    plan_reps: int  # timed plans per planner row
    samples: int  # CEM / hybrid samples K
    horizon: int  # planned steps H
    iterations: int  # CEM iterations
    grad_steps: int  # Adam steps of the gradient planner
    refine_steps: int  # Adam steps after CEM (hybrid)
    encode_batch: int  # the larger encode batch (the other is 1)
    repeats: int  # timed calls per encode / rollout figure
    train_steps: int  # optimizer steps of the training run
    train_batch: int  # windows per step
    ros_seconds: float  # measured window of the ROS loop, after the first plan
    ros_samples: int | None  # CEM K of the mpc node; None: the YAML's value (the demo's)


FULL = BenchSettings(plan_reps=50, samples=IMAGE_PLANNING.samples, horizon=IMAGE_PLANNING.horizon,
                     iterations=IMAGE_PLANNING.iterations, grad_steps=20, refine_steps=5, encode_batch=256,
                     repeats=50, train_steps=30, train_batch=64, ros_seconds=15.0,
                     ros_samples=IMAGE_PLANNING.samples)  # the loop plans as the planner rows do
QUICK = BenchSettings(plan_reps=3, samples=64, horizon=10, iterations=3, grad_steps=3, refine_steps=2,
                      encode_batch=16, repeats=3, train_steps=3, train_batch=8, ros_seconds=3.0, ros_samples=32)


# ------------------------------------------------------------------------------------------------------- CLI
def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _device_spec(text: str) -> str:
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, got {text!r}")
    return text


def _node_param(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w]*:[A-Za-z_][\w.]*:=.+", text):
        raise argparse.ArgumentTypeError(f"expected NODE:NAME:=VALUE, got {text!r}")
    return text


def _domain_id(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 232:
        raise argparse.ArgumentTypeError(f"ROS domain ids are 0-232, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI arguments of `jepa-mpc bench`."""
    parser.add_argument("--device", type=_device_spec, default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=_positive(int), default=None,
                        help="torch intra-op threads, also the mpc node's torch_threads (default: torch's / the "
                        "YAML's); use 1 on a shared or 2-core CPU")
    parser.add_argument("--quick", action="store_true", help="short everything (smoke test): small K, few reps, "
                        "3 training steps, 3 s of ROS loop")
    parser.add_argument("--skip-ros", action="store_true", help="no ROS loop section (runs without rclpy)")
    parser.add_argument("--skip-train", action="store_true", help="no training-throughput section")
    parser.add_argument("--skip-planner", action="store_true", help="no planner-latency section")
    parser.add_argument("--skip-encoder", action="store_true", help="no encoder / rollout section")
    parser.add_argument("--checkpoint", default="", help="world-model checkpoint (default: the shipped one)")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="write report.json and report.md here")
    parser.add_argument("--goal", choices=["image", "pose"], default="image", help="goal of the ROS loop section")
    parser.add_argument("--ros-seconds", type=_positive(float), default=None,
                        help="measured seconds of the ROS loop (default 15, --quick 3)")
    parser.add_argument("--ros-samples", type=_positive(int), default=None,
                        help=f"CEM K of the mpc node in the ROS loop (default: the planner rows' "
                        f"{IMAGE_PLANNING.samples}, --quick 32)")
    parser.add_argument("--ros-plan-trigger", choices=["frame", "timer"], default=None,
                        help="the mpc node's plan_trigger in the ROS loop (default: its own, frame); timer to compare")
    parser.add_argument("--ros-param", action="append", default=[], type=_node_param, metavar="NODE:NAME:=VALUE",
                        help="a parameter of a node of the ROS loop, as ros2 run's -p takes it (repeatable), e.g. "
                        "mpc:parallel_kinematics:=false")
    parser.add_argument("--ros-processes", choices=["one", "per-node"], default="one",
                        help="ROS loop section: every node in this process (as `jepa-mpc demo`), or one process per "
                        "node (as `ros2 launch` and `bringup --processes per-node`)")
    parser.add_argument("--ros-domain-id", type=_domain_id, default=None,
                        help="ROS domain of the benchmark graph (default: a random one in 150-229, so the bench "
                        "never talks to a running graph); discovery is always LOCALHOST")


# ------------------------------------------------------------------------------------------------ report rows
def row(section: str, what: str, *, p50_ms: float | None = None, p99_ms: float | None = None,
        rate: float | None = None, unit: str = "", note: str = "", **extra) -> dict:
    """One line of the report; None figures print as '-'."""
    return {"section": section, "what": what, "p50_ms": p50_ms, "p99_ms": p99_ms, "rate": rate, "unit": unit,
            "note": note, **extra}


def environment(device, threads: int) -> dict:
    """Where and with what the figures were measured."""
    import torch

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = re.findall(r"^model name\s*:\s*(.+)$", pathlib.Path("/proc/cpuinfo").read_text(), re.M)
        cpu = names[0].strip() if names else cpu
    return {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cpu": cpu, "cpu_cores": os.cpu_count(), "torch_threads": threads,
        "python": platform.python_version(), "torch": torch.__version__, "mujoco": version("mujoco"),
        "numpy": np.__version__, "rclpy": version("rclpy"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
    }


# ------------------------------------------------------------------------------------------------ sections
def planner_section(model, image_size: int, device, s: BenchSettings) -> list[dict]:
    """Full plan latency (planner/bench.py) of CEM (on one thread, and with the mpc node's parallel kinematics),
    gradient and hybrid at one setting each."""
    from jepa_mpc.planner.bench import encode_latency, plan_latency
    from jepa_mpc.planner.config import GradientConfig

    _, z0 = encode_latency(model, device, image_size, reps=1, robot="panda")
    candidates = GradientConfig().num_candidates
    cem = f"CEM K={s.samples} H={s.horizon}, {s.iterations} iterations"
    settings = [  # (optimizer, K, iterations, parallel kinematics, what)
        ("cem", s.samples, s.iterations, False, cem),
        ("cem", s.samples, s.iterations, True, f"{cem}, kinematics in a second thread (the mpc node's)"),
        ("gradient", candidates, s.grad_steps, False, f"gradient {candidates} candidates H={s.horizon}, "
                                                      f"{s.grad_steps} Adam steps"),
        ("hybrid", s.samples, s.iterations, False, f"hybrid K={s.samples} H={s.horizon}, {s.iterations} iterations "
                                                   f"+ {s.refine_steps} Adam steps"),
    ]
    rows = []
    for method, k, iterations, parallel, what in settings:
        log.info("bench planner: %s (%d plans)", what, s.plan_reps)
        r = plan_latency(model, z0, device, method, k, s.horizon, iterations, s.plan_reps,
                         refine_steps=s.refine_steps, robot="panda", parallel_kinematics=parallel)
        rows.append(row("planner", what, p50_ms=r["p50_ms"], p99_ms=r["p99_ms"], rate=1e3 / r["p50_ms"],
                        unit="plans/s", note=f"status {r['status']}, {r['n']} plans"))
    return rows


def encoder_section(model, s: BenchSettings) -> list[dict]:
    """Encode throughput at batch 1 and a larger batch, and one K x H rollout (models/bench.py)."""
    from jepa_mpc.models.bench import benchmark

    size = model.cfg.encoder.image_size
    log.info("bench encoder: encode batch 1 and %d, rollout %d x %d (%d repeats)", s.encode_batch, s.samples,
             s.horizon, s.repeats)
    res = benchmark(model, s.samples, s.horizon, s.repeats, encode_batches=(1, s.encode_batch))
    rows = [row("encoder", f"encode {size}x{size}, batch {b}", p50_ms=res[f"encode_{b}"]["p50"],
                p99_ms=res[f"encode_{b}"]["p99"], rate=b * 1e3 / res[f"encode_{b}"]["p50"], unit="frames/s")
            for b in (1, s.encode_batch)]
    roll = res["rollout"]
    rows.append(row("encoder", f"predictor rollout K={s.samples} x H={s.horizon}", p50_ms=roll["p50"],
                    p99_ms=roll["p99"], rate=s.samples * s.horizon * 1e3 / roll["p50"], unit="latent steps/s"))
    return rows


def training_section(model_cfg, device, s: BenchSettings) -> list[dict]:
    """windows/s of a short `train()` run (models/bench.py) on a synthetic dataset in a temp folder."""
    from jepa_mpc.models.bench import training_throughput

    log.info("bench training: %d steps, batch %d, on a synthetic dataset", s.train_steps, s.train_batch)
    r = training_throughput(model_cfg, device, steps=s.train_steps, batch_size=s.train_batch)
    return [row("training", f"{r['steps']} optimizer steps, batch {r['batch_size']}, {r['rollout_steps']}-step "
                            "windows (data + fwd + bwd + step)", rate=r["windows_per_s"], unit="windows/s",
                note=f"{r['wall_s']:.1f} s wall incl. setup", wall_s=r["wall_s"])]


def camera_rows(s: BenchSettings, size: int = IMAGE_SIZE) -> list[dict]:
    """A 640x480 camera frame -> the model's input, as the mpc node does it (ros_nodes/conversions.py, then
    models/preprocess.py: centre crop, area resize), raw bgr8 and JPEG, on this thread."""
    from jepa_mpc.models.preprocess import ImagePreprocessing
    from jepa_mpc.ros_nodes.conversions import (
        compressed_msg_to_rgb,
        image_msg_to_rgb,
        rgb_to_compressed_msg,
        rgb_to_image_msg,
        s_to_stamp,
    )

    y, x = np.mgrid[0:480, 0:640]  # a camera-like frame: smooth shading and sensor noise (JPEG sizes like a real one)
    noise = np.random.default_rng(0).integers(-8, 8, (480, 640, 3))
    frame = np.clip(np.stack([x * 0.4, y * 0.5, (x + y) * 0.2], -1) % 256 + noise, 0, 255).astype(np.uint8)
    preprocessing = ImagePreprocessing(size=size)
    rows = []
    for what, msg, decode in (("bgr8", rgb_to_image_msg(frame, s_to_stamp(0), "camera", "bgr8"), image_msg_to_rgb),
                              ("JPEG q90", rgb_to_compressed_msg(frame, s_to_stamp(0), "camera", "jpeg"),
                               compressed_msg_to_rgb)):
        times = []
        for i in range(10 + 20 * s.repeats):
            start = time.perf_counter()
            preprocessing.apply(decode(msg))
            if i >= 10:
                times.append(1e3 * (time.perf_counter() - start))
        p50, p99 = np.percentile(times, (50, 99))
        rows.append(row("camera", f"640x480 {what} -> {size}x{size} model input (decode, centre crop, area resize, "
                        "Pillow)", p50_ms=float(p50), p99_ms=float(p99), rate=1e3 / p50, unit="frames/s",
                        note=f"{len(times)} frames, one thread; goal <= 3 ms"))
    return rows


class LoopProbe:
    """Bench subscriber: joins each arm command to the plan and the camera frame behind it, stage by stage.

    After each plan the mpc node reports on /diagnostics the frame's stamp, the plan's stamp and the stages up to
    publishing; after each filtered plan the safety_filter node reports that plan's stamp, its own two stages and
    when it sent the command (ros_nodes/latency.py). The plan stamp joins the two; the first command to arrive here
    after the filter sent it gives the last stage. All on one clock: the nodes share this machine's.
    """

    def __init__(self, context, command_topic: str, mpc_name: str, filter_name: str) -> None:
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
        from rclpy.node import Node
        from trajectory_msgs.msg import JointTrajectory

        self.node = Node("bench_probe", context=context)
        self._ok = DiagnosticStatus.OK
        self._mpc, self._filter = mpc_name, filter_name
        self.recording = False
        self.frame_stamp_s: float | None = None  # of the latest plan (start-up: the first plan has come)
        self.unstamped_plans = 0  # OK plans whose diagnostics lack plan_stamp_s (an older mpc node)
        self.plans: dict[float, tuple[float, dict[str, float]]] = {}  # plan stamp -> (frame stamp, mpc stages)
        self.filtered: list[tuple[float, float, dict[str, float]]] = []  # (plan stamp, sent s, filter stages)
        self.arrivals_s: list[float] = []  # command arrival times
        self.plan_ms: list[float] = []  # the node's own plan latency, per plan
        self.holds: collections.Counter[str] = collections.Counter()  # the safety filter's holds, by reason
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 100)
        self.node.create_subscription(JointTrajectory, command_topic, self._on_command, 100)

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            stages = {k[len("stage."):-len("_ms")]: float(v) for k, v in values.items() if k.startswith("stage.")}
            if status.name == self._mpc and status.level == self._ok:
                if "plan_stamp_s" not in values:
                    self.unstamped_plans += 1
                    continue
                self.frame_stamp_s = float(values["frame_stamp_s"])
                if self.recording:
                    self.plans[float(values["plan_stamp_s"])] = (self.frame_stamp_s, stages)
                    self.plan_ms.append(float(values.get("plan_ms", "nan")))
            elif status.name == self._filter and self.recording:
                if status.message.startswith("HOLD"):
                    self.holds[status.message[len("HOLD"):].strip(" ()")] += 1
                elif "plan_stamp_s" in values:
                    self.filtered.append((float(values["plan_stamp_s"]), float(values["sent_s"]), stages))

    def _now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _on_command(self, msg) -> None:
        if self.recording:
            self.arrivals_s.append(self._now_s())

    def chains(self) -> list[tuple[float, dict[str, float]]]:
        """join_chains of what this probe saw."""
        return join_chains(self.plans, self.filtered, self.arrivals_s)


def join_chains(plans: dict[float, tuple[float, dict[str, float]]],
                filtered: list[tuple[float, float, dict[str, float]]],
                arrivals_s: list[float]) -> list[tuple[float, dict[str, float]]]:
    """(frame stamp -> command arrival in ms, {stage: ms}) for every command that came from a plan.

    plans: plan stamp -> (frame stamp, the mpc node's stages); filtered: (plan stamp, time the command was sent,
    the filter node's stages); arrivals_s: command arrival times, ascending. A command is the first arrival at or
    after its sending; plans without a filter report (or reports without a plan, or a command) are left out.
    """
    arrivals = np.asarray(arrivals_s, dtype=float)
    out = []
    for plan_stamp, sent_s, filter_stages in filtered:
        if plan_stamp not in plans:
            continue  # planned before the window opened
        frame_stamp, stages = plans[plan_stamp]
        i = int(np.searchsorted(arrivals, sent_s))
        if i == len(arrivals):
            continue  # its command had not arrived when the window closed
        arrival = float(arrivals[i])
        out.append((1e3 * (arrival - frame_stamp), {**stages, **filter_stages, "command": 1e3 * (arrival - sent_s)}))
    return out


def _node_params(params: pathlib.Path, node: str) -> dict:
    """A node's parameters in a ROS YAML file (its own block over the `/**` block)."""
    import yaml

    data = yaml.safe_load(params.read_text()) or {}
    return {**(data.get("/**") or {}).get("ros__parameters", {}), **(data.get(node) or {}).get("ros__parameters", {})}


def _per_node_configs(params: pathlib.Path, samples: int | None, plan_trigger: str | None):
    """(mpc config, safety filter config) the child processes run with: dataclass defaults, the YAML, the bench's K
    and plan trigger."""
    from jepa_mpc.ros_nodes.graph import MPC, SAFETY_FILTER
    from jepa_mpc.ros_nodes.mpc_node import MpcNodeConfig
    from jepa_mpc.ros_nodes.safety_filter_node import SafetyFilterNodeConfig

    def scalars(cls, given: dict) -> dict:
        return {f.name: given[f.name] for f in dataclasses.fields(cls) if f.name in given and f.name != "guardrails"}

    mpc = scalars(MpcNodeConfig, _node_params(params, MPC.name)) | ({"num_samples": samples} if samples else {})
    mpc |= {"plan_trigger": plan_trigger} if plan_trigger else {}
    return (MpcNodeConfig(**mpc),
            SafetyFilterNodeConfig(**scalars(SafetyFilterNodeConfig, _node_params(params, SAFETY_FILTER.name))))


def ros_section(args: argparse.Namespace, s: BenchSettings, startup_timeout_s: float = 60.0) -> list[dict]:
    """Bring up sim_bridge + mpc + safety_filter (in this process, or one process each with --ros-processes
    per-node) with a goal, and time frame -> command from a probe node in this process."""
    try:
        import rclpy
        from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
    except ImportError as exc:
        raise RuntimeError(f"rclpy is not importable ({exc}); install the ros extra or pass --skip-ros") from exc

    from jepa_mpc.ros_nodes.bringup import (
        create_nodes,
        ros_args,
        start_node_processes,
        stop_node_processes,
        teardown_graph,
    )
    from jepa_mpc.ros_nodes.demo import Operator
    from jepa_mpc.ros_nodes.graph import GRAPHS, MPC, SAFETY_FILTER, default_params, localhost_discovery

    domain = args.ros_domain_id if args.ros_domain_id is not None else random.randrange(150, 230)
    overrides = ["-p", f"{MPC.name}:device:={args.device}"]
    if s.ros_samples:
        overrides += ["-p", f"{MPC.name}:num_samples:={s.ros_samples}"]
    if args.threads:
        overrides += ["-p", f"{MPC.name}:torch_threads:={args.threads}"]
    if args.checkpoint:
        overrides += ["-p", f"{MPC.name}:checkpoint:={args.checkpoint}"]
    if args.ros_plan_trigger:
        overrides += ["-p", f"{MPC.name}:plan_trigger:={args.ros_plan_trigger}"]
    for given in args.ros_param:
        overrides += ["-p", given]
    params, in_process = default_params("sim"), args.ros_processes == "one"
    log.info("bench ros: bringing up the sim graph (%s) on domain %d (%s goal)",
             "one process" if in_process else "a process per node", domain, args.goal)
    with localhost_discovery():
        context = rclpy.Context()
        rclpy.init(args=[*ros_args(params), *overrides] if in_process else [], context=context, domain_id=domain)
        nodes, children, executor, op, probe = [], [], None, None, None
        try:
            if in_process:
                nodes = create_nodes(GRAPHS["sim"], context)
                by_name = {node.get_name(): node for node in nodes}
                mpc_cfg, filter_cfg = by_name[MPC.name].cfg, by_name[SAFETY_FILTER.name].cfg
            else:
                mpc_cfg, filter_cfg = _per_node_configs(params, s.ros_samples, args.ros_plan_trigger)
                children = start_node_processes(GRAPHS["sim"], params, tuple(overrides),
                                                env={"ROS_DOMAIN_ID": str(domain)})
            op = Operator(context, args.goal)
            probe = LoopProbe(context, filter_cfg.command_topic, MPC.name, SAFETY_FILTER.name)
            # the graph's own nodes want threads (as in bringup); the probe alone does not, and every cycle this
            # process spends is one the measured graph does not get
            executor = (MultiThreadedExecutor(num_threads=4, context=context) if in_process else
                        SingleThreadedExecutor(context=context))
            for node in (*nodes, op.node, probe.node):
                executor.add_node(node)
            deadline = time.monotonic() + startup_timeout_s
            while probe.frame_stamp_s is None:  # wait for the first plan: start-up is not part of the figure
                if time.monotonic() > deadline:
                    why = ("the mpc node's diagnostics carry no frame_stamp_s" if probe.unstamped_plans else
                           f"goal sent: {op.goal_sent}")
                    raise RuntimeError(f"no plan from the mpc node within {startup_timeout_s:.0f} s ({why})")
                if any(child.poll() is not None for child in children):
                    raise RuntimeError("a node process exited during start-up; see its log above")
                executor.spin_once(timeout_sec=0.05)
                op.send_goal()
            log.info("bench ros: first plan; measuring for %.0f s", s.ros_seconds)
            probe.recording = True
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < s.ros_seconds:
                executor.spin_once(timeout_sec=0.05)
            probe.recording = False
        finally:
            stop_node_processes(children)
            teardown_graph(context, executor, nodes, [extra.node for extra in (op, probe) if extra is not None])
    chains = probe.chains()
    if not chains:
        raise RuntimeError(f"no arm command from a plan arrived in {s.ros_seconds:.0f} s after the first plan")
    graph = "in-process sim graph" if in_process else "sim graph, a process per node"
    what = (f"frame stamp -> arm command, {graph}, {args.goal} goal, {mpc_cfg.optimizer} "
            f"K={mpc_cfg.num_samples} H={mpc_cfg.horizon}, {mpc_cfg.iterations} iterations, "
            f"plan_trigger {mpc_cfg.plan_trigger}, {s.ros_seconds:.0f} s")
    return [loop_row(what, chains, probe.holds, len(probe.plan_ms), elapsed)]


def loop_row(what: str, chains: list[tuple[float, dict[str, float]]], holds: dict[str, int], plans: int,
             seconds: float) -> dict:
    """The ROS loop's report row: frame -> command p50 / p99 over the joined chains, each stage's p50 / p99
    (ros_nodes/latency.py, in the order of the chain) under `stages`, and the safety filter's holds by reason."""
    total_ms = np.asarray([total for total, _ in chains])
    stages = {}
    for stage in STAGES:
        values = np.asarray([parts[stage] for _, parts in chains if stage in parts], dtype=float)
        if values.size:
            stages[stage] = {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99))}
    plan_p50 = stages.get("plan", {}).get("p50_ms")
    n_holds = sum(holds.values())
    why = f" ({', '.join(f'{reason} {n}' for reason, n in sorted(holds.items()))})" if holds else ""
    note = f"{len(total_ms)} commands from plans, {n_holds} holds{why}; node plan p50 {_fmt(plan_p50)} ms"
    return row("ros", what, p50_ms=float(np.percentile(total_ms, 50)), p99_ms=float(np.percentile(total_ms, 99)),
               rate=plans / seconds, unit="plans/s", note=note, commands=len(total_ms), holds=n_holds,
               holds_by_reason=dict(holds),
               plan_p50_ms=plan_p50, seconds=seconds, stages=stages)


# ------------------------------------------------------------------------------------------------ output
def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}" if abs(value) >= 1 else f"{value:.2f}"


def _table_rows(rows: list[dict]) -> list[list[str]]:
    return [[r["section"], r["what"], _fmt(r["p50_ms"]), _fmt(r["p99_ms"]),
             f"{_fmt(r['rate'])} {r['unit']}".strip() if r["rate"] is not None else "-", r["note"]] for r in rows]


HEADER = ["section", "what", "p50 ms", "p99 ms", "rate", "notes"]


def environment_line(env: dict) -> str:
    """One line naming the machine, versions, threads and date."""
    where = f"GPU {env['gpu']}" if env["gpu"] else f"CPU {env['cpu']}"
    return (f"{where} ({env['cpu_cores']} cores), device {env['device']}, {env['torch_threads']} torch threads; "
            f"python {env['python']}, torch {env['torch']}, mujoco {env['mujoco']}, numpy {env['numpy']}, "
            f"rclpy {env['rclpy']}; {env['date']}; load average at start {env['load_average_start'][0]}")


def markdown(report: dict) -> str:
    """The report as markdown: an environment line and one table, ready for docs/benchmarks.md."""
    ckpt = report["checkpoint"]
    lines = [f"`{report['command']}`: {environment_line(report['env'])}; checkpoint "
             f"`{pathlib.Path(ckpt['path']).name}` (weights sha256 {str(ckpt['weights_sha256'])[:12]}, "
             f"proprio {ckpt['proprio_key']}).", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
              for cells in _table_rows(report["rows"])]
    for r in report["rows"]:
        if r.get("stages"):
            lines += ["", f"Stages of: {r['what']} (ros_nodes/latency.py; p50s do not add up to the total's p50)", "",
                      "| stage | what it covers | p50 ms | p99 ms |", "|---|---|---|---|"]
            lines += [f"| {stage} | {STAGES[stage]} | {_fmt(t['p50_ms'])} | {_fmt(t['p99_ms'])} |"
                      for stage, t in r["stages"].items()]
    return "\n".join(lines) + "\n"


def text_table(rows: list[dict]) -> str:
    """The rows as a fixed-width console table, then each ROS loop row's stages."""
    cells = [HEADER, *_table_rows(rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(HEADER))).rstrip() for c in cells]
    for r in rows:
        for stage, t in (r.get("stages") or {}).items():
            lines.append(f"  stage {stage:<10} p50 {_fmt(t['p50_ms']):>6} ms  p99 {_fmt(t['p99_ms']):>6} ms")
    return "\n".join(lines)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def _checkpoint_id(path: pathlib.Path) -> dict:
    """Path, weights SHA-256 (from its JSON) and whether the encoder reads joint positions: which model was timed."""
    from jepa_mpc.models.checkpoint import checkpoint_paths

    meta = json.loads(checkpoint_paths(path)[1].read_text())
    encoder = meta.get("model_config", {}).get("encoder", {})
    return {"path": str(path), "weights_sha256": meta.get("weights_sha256"),
            "proprio_key": encoder.get("proprio_key", "none")}


# ------------------------------------------------------------------------------------------------ entry point
def run(args: argparse.Namespace) -> int:
    """Run the chosen sections, print the table, and write report.json / report.md when --out is given."""
    import torch

    from jepa_mpc.models.device import resolve_device
    from jepa_mpc.models.shipped import resolve_checkpoint
    from jepa_mpc.planner.bench import load_world_model

    logging.basicConfig(level=logging.WARNING, format="%(message)s")  # others' warnings (e.g. planner holds)
    log.setLevel(logging.INFO)  # and this module's progress lines
    settings = QUICK if args.quick else FULL
    settings = dataclasses.replace(settings, ros_seconds=args.ros_seconds or settings.ros_seconds,
                                   ros_samples=args.ros_samples or settings.ros_samples)
    try:
        checkpoint = resolve_checkpoint(args.checkpoint)
        device = resolve_device(args.device)
        if args.out is not None and args.out.exists() and not args.out.is_dir():
            raise ValueError(f"--out {args.out} exists and is not a folder")
        if not args.skip_ros and not _importable("rclpy"):
            raise RuntimeError("rclpy is not importable; install the ros extra or pass --skip-ros")
    except (FileNotFoundError, RuntimeError, ValueError) as exc:  # bad input: a message, not a traceback
        raise SystemExit(f"jepa-mpc bench: {exc}") from exc
    if args.threads:
        torch.set_num_threads(args.threads)
    skipped = {"planner": args.skip_planner, "encoder": args.skip_encoder, "training": args.skip_train,
               "ros": args.skip_ros}
    sections = [s for s in SECTIONS if not skipped[s]]
    env = environment(device, torch.get_num_threads())
    log.info("bench: %s; sections %s", environment_line(env), ", ".join(sections))
    model, _, image_size = load_world_model(str(checkpoint), device)
    rows: list[dict] = []
    started = time.monotonic()
    for i, section in enumerate(sections, start=1):
        log.info("bench [%d/%d] %s", i, len(sections), section)
        try:
            if section == "planner":
                rows += planner_section(model, image_size, device, settings)
            elif section == "encoder":
                rows += encoder_section(model, settings)
            elif section == "training":
                rows += training_section(model.cfg, device, settings)
            else:
                rows += camera_rows(settings) + ros_section(args, settings)
        except RuntimeError as exc:  # a section that cannot run (no rclpy, graph did not come up): say which
            raise SystemExit(f"jepa-mpc bench: {section} section failed: {exc}") from exc
    env["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    flags = [("--quick", args.quick), (f"--device {args.device}", args.device != "auto"),
             (f"--threads {args.threads}", args.threads), ("--skip-ros", args.skip_ros),
             ("--skip-train", args.skip_train), ("--skip-planner", args.skip_planner),
             ("--skip-encoder", args.skip_encoder), (f"--goal {args.goal}", args.goal != "image"),
             (f"--ros-processes {args.ros_processes}", args.ros_processes != "one"),
             (f"--ros-seconds {args.ros_seconds}", args.ros_seconds),
             (f"--ros-samples {args.ros_samples}", args.ros_samples),
             (f"--ros-plan-trigger {args.ros_plan_trigger}", args.ros_plan_trigger),
             *((f"--ros-param {given}", True) for given in args.ros_param)]
    command = " ".join(["jepa-mpc bench", *(flag for flag, given in flags if given)])
    report = {"command": command, "env": env, "checkpoint": _checkpoint_id(checkpoint), "sections": sections,
              "settings": dataclasses.asdict(settings), "wall_s": time.monotonic() - started, "rows": rows}
    print(environment_line(env))  # noqa: T201 (CLI output)
    print(text_table(rows))  # noqa: T201 (CLI output)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "report.md").write_text(markdown(report))
        print(f"wrote {args.out / 'report.json'} and {args.out / 'report.md'}")  # noqa: T201 (CLI output)
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="jepa-mpc bench", description=__doc__.splitlines()[0])
    add_arguments(_parser)
    raise SystemExit(run(_parser.parse_args()))
