"""`jepa-mpc record`: write the graph's topics to a rosbag2 bag directory (`--out DIR`: DIR/metadata.yaml +
DIR/DIR_0.mcap, ros_nodes/rosbag2_dir.py) or a single rosbag2-style MCAP file (`--out FILE.mcap`); no `ros2 bag`
needed.

The file is what rosbag2's MCAP storage plugin writes: profile `ros2`, one Schema per message type with encoding
`ros2msg` (the type's .msg text plus its dependencies, concatenated exactly as rosbag2 does), one Channel per topic
with message encoding `cdr` and the publishers' `offered_qos_profiles`, and each message's CDR bytes as received
(log time = receive time, publish time = the publisher's send time; the header stamp stays inside the message).
So `ros2 bag info FILE.mcap` / `ros2 bag play FILE.mcap` on a real ROS install read it, and `jepa-mpc replay`
plays it back here.

Nothing is lost silently: the subscriber QoS adapts to the publishers (reliable when every publisher is reliable,
transient-local when every publisher latches, as rosbag2 does), gaps in each publisher's sequence numbers are
counted and reported as `lost`, and the file is written to FILE.partial, finalized (MCAP summary and index),
fsynced and renamed on stop (Ctrl-C, SIGTERM, --duration), so FILE exists only when complete.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import logging
import math
import os
import pathlib
import re
import signal
import sys
import threading
import time

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from jepa_mpc.models.atomic_io import fsync_dir

log = logging.getLogger(__name__)

# The design's topic table (/sim/goal_* are where sim_bridge latches each episode's goal).
DEFAULT_TOPICS = (
    "/joint_states", "/camera/image_raw", "/camera/camera_info", "/planned_trajectory",
    "/joint_trajectory_controller/joint_trajectory", "/diagnostics", "/goal_image", "/goal_pose",
    "/camera/image_raw/compressed", "/sim/goal_image", "/sim/goal_joint_states", "/sim/goal_pose",
)
PROFILE = "ros2"
SCHEMA_ENCODING = "ros2msg"
MESSAGE_ENCODING = "cdr"
PARTIAL_SUFFIX = ".partial"
COMPRESSIONS = ("zstd", "lz4", "none")
_TYPE_RE = re.compile(r"^([A-Za-z0-9_]+)/(?:msg/)?([A-Za-z0-9_]+)$")
# rosbag2_cpp's LocalMessageDefinitionSource: a field type starts a line; primitives are not dependencies.
_FIELD_TYPE_RE = re.compile(r"(?:^|\n)\s*([a-zA-Z0-9_/]+)(?:\[[^\]]*\])?\s+")
_PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
               "int64", "uint64", "string"}
_DELIMITER = "=" * 80 + "\n"


class BagError(ValueError):
    """A bag that cannot be written or read (missing, truncated, corrupt, not a ROS 2 MCAP file)."""


# ------------------------------------------------------------------------------------------------- message types
def normalize_type(type_name: str) -> str:
    """'sensor_msgs/Image' or 'sensor_msgs/msg/Image' -> 'sensor_msgs/msg/Image'."""
    match = _TYPE_RE.match(type_name)
    if not match:
        raise BagError(f"message type {type_name!r} is not of the form package/msg/Type")
    return f"{match[1]}/msg/{match[2]}"


def message_class(type_name: str) -> type:
    """The Python class of a message type ('sensor_msgs/msg/Image' -> sensor_msgs.msg.Image)."""
    package, _, name = normalize_type(type_name).split("/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError) as exc:
        raise BagError(f"message type {type_name} is not installed ({exc})") from exc


@functools.cache
def share_dir(package: str) -> pathlib.Path:
    """The share/<package> folder: from the ament index when set up, else beside the installed Python package
    (the PyPI wheels put share/ under the venv prefix)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return pathlib.Path(get_package_share_directory(package))
    except Exception:  # noqa: BLE001 - no AMENT_PREFIX_PATH (pip install) or not indexed: look beside the module
        pass
    candidates = [pathlib.Path(sys.prefix)]
    try:
        module_file = pathlib.Path(importlib.import_module(package).__file__).resolve()
        candidates += list(module_file.parents)
    except (ImportError, TypeError):
        pass
    for prefix in candidates:
        if (prefix / "share" / package / "msg").is_dir():
            return prefix / "share" / package
    raise FileNotFoundError(f"no share/{package}/msg folder found (looked in {[str(c) for c in candidates]})")


def _msg_text(type_name: str) -> tuple[str, str]:
    """(.msg text, package) of 'pkg/Type' or 'pkg/msg/Type'."""
    match = _TYPE_RE.match(type_name)
    if not match:
        raise FileNotFoundError(f"type name {type_name!r} not understood")
    return (share_dir(match[1]) / "msg" / f"{match[2]}.msg").read_text(), match[1]


def _dependencies(text: str, package: str) -> list[str]:
    deps = set()
    for field_type in _FIELD_TYPE_RE.findall(text):
        if field_type in _PRIMITIVES:
            continue
        deps.add(field_type if "/" in field_type else f"{package}/{field_type}")
    return sorted(deps)


@functools.cache
def message_definition(type_name: str) -> str:
    """The full `ros2msg` definition of a type as rosbag2 stores it: the type's .msg text, then for each
    dependency (depth first, sorted, each once) a line of 80 '=', 'MSG: pkg/Type' and that type's text."""
    seen: set[str] = set()

    def append(name: str, depth: int) -> str:
        if depth <= 0:
            raise RecursionError(f"message definition of {type_name} nests too deep")
        text, package = _msg_text(name)
        result = text
        for dep in _dependencies(text, package):
            if dep not in seen:
                seen.add(dep)
                result += "\n" + _DELIMITER + f"MSG: {dep}\n" + append(dep, depth - 1)
        return result

    return append(normalize_type(type_name), 50)


# ------------------------------------------------------------------------------------------------- QoS
def qos_to_dict(qos) -> dict:
    """An rclpy QoSProfile as one entry of rosbag2's `offered_qos_profiles` YAML (format version 9)."""

    def duration(d) -> dict:
        ns = int(d.nanoseconds)
        return {"sec": ns // 1_000_000_000, "nsec": ns % 1_000_000_000}

    return {
        "history": qos.history.name.lower(), "depth": int(qos.depth),
        "reliability": qos.reliability.name.lower(), "durability": qos.durability.name.lower(),
        "deadline": duration(qos.deadline), "lifespan": duration(qos.lifespan),
        "liveliness": qos.liveliness.name.lower(),
        "liveliness_lease_duration": duration(qos.liveliness_lease_duration),
        "avoid_ros_namespace_conventions": bool(qos.avoid_ros_namespace_conventions),
    }


def qos_profiles_yaml(profiles) -> str:
    """rosbag2's `offered_qos_profiles` channel metadata: a YAML list, one entry per publisher."""
    import yaml

    return yaml.safe_dump([qos_to_dict(p) for p in profiles], sort_keys=False, default_flow_style=False)


def adapt_qos(offered, depth: int = 100):
    """The subscriber QoS that connects to every publisher and gets what they offer (rosbag2's rule):
    reliable if all are reliable, transient-local if all latch; keep-last `depth` so a busy moment drops nothing."""
    offered = list(offered)
    reliable = bool(offered) and all(p.reliability == QoSReliabilityPolicy.RELIABLE for p in offered)
    latched = bool(offered) and all(p.durability == QoSDurabilityPolicy.TRANSIENT_LOCAL for p in offered)
    return QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=QoSReliabilityPolicy.RELIABLE if reliable else QoSReliabilityPolicy.BEST_EFFORT,
                      durability=QoSDurabilityPolicy.TRANSIENT_LOCAL if latched else QoSDurabilityPolicy.VOLATILE)


# ------------------------------------------------------------------------------------------------- MCAP writer
@dataclasses.dataclass
class TopicStats:
    type: str
    messages: int = 0
    bytes: int = 0
    lost: int = 0
    offered_qos: tuple = ()  # the publishers' QoS as rosbag2 YAML entries (qos_to_dict)
    type_hash: str = ""


class McapBagWriter:
    """A rosbag2-style MCAP file, written to PATH.partial and renamed to PATH by `close()` (after the summary is
    written and the file fsynced). Thread-safe. Without `close()` (process killed) only PATH.partial remains."""

    def __init__(self, path: str | os.PathLike, compression: str = "zstd", chunk_size: int = 1 << 20,
                 overwrite: bool = False) -> None:
        from mcap.writer import CompressionType, Writer

        if compression not in COMPRESSIONS:
            raise BagError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
        self.path = pathlib.Path(path)
        self.partial = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        for existing in (self.path, self.partial):
            if existing.exists() and not overwrite:
                hint = " (left by a recorder that was killed)" if existing == self.partial else ""
                raise BagError(f"{existing} already exists{hint}; move it away or pass --overwrite")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = open(self.partial, "wb")  # noqa: SIM115 - closed in close()
        self._writer = Writer(self._file, chunk_size=chunk_size,
                              compression=CompressionType[compression.upper()], enable_data_crcs=True)
        import mcap

        self._writer.start(profile=PROFILE, library=f"jepa_mpc record (mcap-python {mcap.__version__})")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._sequence: dict[str, int] = {}
        self.topics: dict[str, TopicStats] = {}
        self.start_ns, self.end_ns = 0, 0  # first and last log time written
        self.closed = False

    def add_topic(self, topic: str, type_name: str, offered_qos=(), type_hash: str = "") -> None:
        """Register a topic (its schema once per type) with the publishers' offered QoS profiles."""
        type_name = normalize_type(type_name)
        with self._lock:
            if topic in self._channels:
                return
            if type_name not in self._schemas:
                try:
                    encoding, data = SCHEMA_ENCODING, message_definition(type_name).encode()
                except (OSError, RecursionError) as exc:  # as rosbag2: an empty definition, marked unknown
                    log.warning("no .msg definition for %s (%s); its schema is left empty", type_name, exc)
                    encoding, data = "unknown", b""
                self._schemas[type_name] = self._writer.register_schema(type_name, encoding, data)
            metadata = {"offered_qos_profiles": qos_profiles_yaml(offered_qos) if offered_qos else "",
                        "topic_type_hash": type_hash}
            self._channels[topic] = self._writer.register_channel(topic, MESSAGE_ENCODING, self._schemas[type_name],
                                                                  metadata)
            self._sequence[topic] = 0
            self.topics[topic] = TopicStats(type_name, offered_qos=tuple(qos_to_dict(q) for q in offered_qos),
                                            type_hash=type_hash)

    def write(self, topic: str, data: bytes, log_time_ns: int, publish_time_ns: int | None = None) -> None:
        """Append one CDR-serialized message of a registered topic."""
        with self._lock:
            if self.closed:
                return
            self._sequence[topic] += 1
            self._writer.add_message(self._channels[topic], log_time=int(log_time_ns), data=data,
                                     publish_time=int(publish_time_ns or log_time_ns),
                                     sequence=self._sequence[topic])
            if not self.message_count:
                self.start_ns = self.end_ns = int(log_time_ns)
            self.start_ns, self.end_ns = min(self.start_ns, int(log_time_ns)), max(self.end_ns, int(log_time_ns))
            stats = self.topics[topic]
            stats.messages += 1
            stats.bytes += len(data)

    @property
    def message_count(self) -> int:
        return sum(s.messages for s in self.topics.values())

    def close(self) -> pathlib.Path:
        """Write the summary, fsync, rename PATH.partial to PATH; idempotent. Returns PATH."""
        with self._lock:
            if self.closed:
                return self.path
            self.closed = True
            try:
                self._writer.finish()
                self._file.flush()
                os.fsync(self._file.fileno())
            finally:
                self._file.close()
            os.replace(self.partial, self.path)
            fsync_dir(self.path.parent)
        return self.path

    def __enter__(self) -> McapBagWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------------------------------------- the node
class RecorderNode(Node):
    """Subscribes (raw CDR, adapted QoS) to each wanted topic once it has a publisher and writes every
    message to `writer`. `topics=None` records every topic except ROS internals."""

    def __init__(self, writer: McapBagWriter, topics=DEFAULT_TOPICS, name: str = "recorder",
                 discovery_period_s: float = 0.1, **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.writer = writer
        self.wanted = None if topics is None else list(dict.fromkeys(topics))
        self.subscribed: dict[str, str] = {}
        self._last_seq: dict[tuple, int] = {}
        self._warned: set[str] = set()
        self.discover()
        self.create_timer(discovery_period_s, self.discover)

    @property
    def missing(self) -> list[str]:
        """Wanted topics with no publisher seen yet."""
        return [t for t in (self.wanted or []) if t not in self.subscribed]

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self.writer.topics.values())

    def discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic in self.subscribed:
                continue
            if self.wanted is None:
                if topic in ("/rosout", "/parameter_events") or "/_action/" in topic or topic.endswith(
                        "/transition_event"):
                    continue
            elif topic not in self.wanted:
                continue
            publishers = self.get_publishers_info_by_topic(topic)
            if not publishers:
                continue
            if len(types) > 1 and topic not in self._warned:
                self._warned.add(topic)
                self.get_logger().warning(f"{topic} has several types {types}; recording {types[0]}")
            try:
                cls = message_class(types[0])
            except BagError as exc:
                if topic not in self._warned:
                    self._warned.add(topic)
                    self.get_logger().error(f"cannot record {topic}: {exc}")
                continue
            offered = [p.qos_profile for p in publishers]
            type_hash = str(publishers[0].topic_type_hash)
            self.writer.add_topic(topic, types[0], offered, "" if type_hash == "INVALID" else type_hash)
            self.create_subscription(cls, topic, functools.partial(self._on_message, topic), adapt_qos(offered),
                                     raw=True)
            self.subscribed[topic] = normalize_type(types[0])
            self.get_logger().info(f"recording {topic} [{self.subscribed[topic]}]")

    def _on_message(self, topic: str, data: bytes, info) -> None:
        received = info.get("received_timestamp") or time.time_ns()
        self.writer.write(topic, data, received, info.get("source_timestamp") or received)
        seq, gid = info.get("publication_sequence_number"), info.get("publisher_gid")
        if seq and gid:  # a gap in one publisher's sequence numbers: messages that never arrived
            key = (topic, bytes(gid.get("data", b"")) if isinstance(gid, dict) else repr(gid))
            last = self._last_seq.get(key)
            if last is not None and seq > last + 1:
                self.writer.topics[topic].lost += seq - last - 1
            if last is None or seq > last:
                self._last_seq[key] = seq


# ------------------------------------------------------------------------------------------------- record()
def status_line(writer: McapBagWriter, node, elapsed_s: float) -> str:
    size_mb = sum(s.bytes for s in writer.topics.values()) / 1e6
    line = f"recording {elapsed_s:6.1f} s | {writer.message_count} msgs, {size_mb:.1f} MB | lost {node.lost}"
    if node.missing:
        line += f" | waiting for {', '.join(node.missing)}"
    return line


def record(out: str | os.PathLike, topics=DEFAULT_TOPICS, duration_s: float = 0.0,
           stop: threading.Event | None = None, compression: str = "zstd", overwrite: bool = False,
           status_period_s: float = 0.0, ros_args: list[str] | None = None) -> dict:
    """Record until `stop` is set, `duration_s` passes (0: no limit) or ROS shuts down; always finalize the file.

    `out`: a bag directory, or a single file when it ends in .mcap. Returns a summary: path, duration_s, messages,
    lost, per-topic counts, never_published."""
    from jepa_mpc.ros_nodes.rosbag2_dir import Rosbag2DirWriter, is_directory_target

    stop = stop or threading.Event()
    writer_cls = Rosbag2DirWriter if is_directory_target(out) else McapBagWriter
    writer = writer_cls(out, compression=compression, overwrite=overwrite)
    context = rclpy.Context()
    node = None
    start = time.monotonic()
    try:
        # No rclpy signal handlers: Ctrl-C must not interrupt a write half-way; run() turns it into `stop`.
        rclpy.init(args=ros_args, context=context, signal_handler_options=SignalHandlerOptions.NO)
        node = RecorderNode(writer, topics, context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        next_status = start + status_period_s
        try:
            while not stop.is_set() and context.ok():
                if duration_s > 0 and time.monotonic() - start >= duration_s:
                    break
                executor.spin_once(timeout_sec=0.05)
                if status_period_s > 0 and time.monotonic() >= next_status:
                    next_status += status_period_s
                    print_status(status_line(writer, node, time.monotonic() - start))
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            executor.shutdown(timeout_sec=1.0)
    finally:
        elapsed = time.monotonic() - start
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        path = writer.close()
    return {"path": str(path), "duration_s": elapsed, "messages": writer.message_count,
            "lost": sum(s.lost for s in writer.topics.values()),
            "topics": {t: s.messages for t, s in writer.topics.items()},
            "never_published": [t for t in (topics or []) if t not in writer.topics]}


_last_logged_status = [-math.inf]


def print_status(line: str, log_period_s: float = 10.0) -> None:
    """One status line, rewritten in place on a terminal; into the log at most every `log_period_s` otherwise."""
    if sys.stderr.isatty():
        sys.stderr.write("\r" + line + "\033[K")
        sys.stderr.flush()
    elif time.monotonic() - _last_logged_status[0] >= log_period_s:
        _last_logged_status[0] = time.monotonic()
        log.info(line)


def end_status() -> None:
    """Finish the in-place status line (terminal only)."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")


# ------------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "-o", type=pathlib.Path, required=True,
                        help="output rosbag2 bag directory (metadata.yaml + MCAP), or a single FILE.mcap; written "
                             "as OUT.partial, renamed when finalized")
    parser.add_argument("--topics", default=",".join(DEFAULT_TOPICS),
                        help="comma-separated topics; each is subscribed once a publisher appears "
                             "(default: the design's topic table)")
    parser.add_argument("--all", action="store_true", help="record every topic (except /rosout, parameter events)")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: until Ctrl-C)")
    parser.add_argument("--compression", choices=COMPRESSIONS, default="zstd", help="MCAP chunk compression")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT (or OUT.partial)")
    parser.add_argument("--status-period", type=float, default=1.0, help="seconds between status lines (0: none)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    topics = None if args.all else [t.strip() for t in args.topics.split(",") if t.strip()]
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        def on_signal(signum, _frame):
            stop.set()
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C aborts (leaves .partial)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        summary = record(args.out, topics, duration_s=args.duration, stop=stop, compression=args.compression,
                         overwrite=args.overwrite, status_period_s=args.status_period)
    except BagError as exc:
        log.error("error: %s", exc)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if args.status_period > 0:
        end_status()
    counts = ", ".join(f"{t} {n}" for t, n in summary["topics"].items()) or "none"
    log.info("wrote %s: %d messages in %.1f s (%s); lost %d", summary["path"], summary["messages"],
             summary["duration_s"], counts, summary["lost"])
    if summary["never_published"]:
        log.info("never published: %s", ", ".join(summary["never_published"]))
    return 0
