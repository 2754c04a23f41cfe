"""`jepa-mpc replay BAG`: publish a recorded bag with its original timing, so the mpc and safety_filter
nodes run from a bag instead of the simulator (or a real arm).

Reads a rosbag2 bag directory (metadata.yaml + one MCAP file; ros_nodes/rosbag2_dir.py) or a single rosbag2 MCAP
file with CDR messages (from `jepa-mpc record`, `ros2 bag record -s mcap` or `rosbags`). The bag is
checked before anything is published: a truncated file (no MCAP footer or summary), a corrupt chunk (CRC) or a
file that is not a ROS 2 bag stops the replay with a BagError naming the file and the problem. Each topic is
published with the QoS its publishers offered when it was recorded (sensor data stays best-effort, latched goals
stay latched).
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import logging
import os
import pathlib
import signal
import threading
import time
from collections.abc import Iterator

import rclpy
from builtin_interfaces.msg import Time
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import (
    QoSDurabilityPolicy,
    QoSHistoryPolicy,
    QoSLivelinessPolicy,
    QoSProfile,
    QoSReliabilityPolicy,
)
from rclpy.serialization import deserialize_message
from rclpy.signals import SignalHandlerOptions

from jepa_mpc.ros_nodes.recorder import (
    MESSAGE_ENCODING,
    PARTIAL_SUFFIX,
    BagError,
    end_status,
    message_class,
    normalize_type,
    print_status,
)

log = logging.getLogger(__name__)

RESTAMP_MODES = ("sensors", "all", "none")
MAGIC = b"\x89MCAP0\r\n"


@dataclasses.dataclass(frozen=True)
class BagTopic:
    """One recorded topic: its name, type ('pkg/msg/Type'), message count and the QoS its publishers offered."""

    name: str
    type: str
    count: int
    offered_qos: tuple[dict, ...]


@dataclasses.dataclass(frozen=True)
class BagMessage:
    topic: str
    data: bytes  # CDR, as published
    log_time_ns: int  # receive time
    publish_time_ns: int  # send time


# ------------------------------------------------------------------------------------------------- reading
def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Bag:
    """A validated rosbag2 MCAP file: `topics`, `start_ns`, `end_ns`, `message_count`, and `messages()` in
    receive-time order. Raises BagError on anything that is not a complete, readable ROS 2 MCAP file."""

    def __init__(self, path: str | os.PathLike) -> None:
        from mcap.reader import make_reader

        self.path = pathlib.Path(path)
        if self.path.is_dir():  # a rosbag2 bag directory: play its MCAP file
            from jepa_mpc.ros_nodes.rosbag2_dir import bag_file

            self.path = bag_file(self.path)
        if not self.path.is_file():
            partial = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
            hint = f" ({partial.name} exists: the recorder was killed before finalizing it)" if partial.exists() else ""
            raise BagError(f"{self.path}: no such bag file{hint}")
        self._file = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        try:
            self._check_frame()
            try:
                self._reader = make_reader(self._file, validate_crcs=True)
                summary = self._reader.get_summary()
            except Exception as exc:  # noqa: BLE001 - mcap raises McapError, struct/Value/EOF errors alike
                raise BagError(f"{self.path}: damaged MCAP footer or summary ({_describe(exc)})") from exc
            if summary is None:
                raise BagError(f"{self.path}: the MCAP file has no summary (not finalized: was the recording "
                               "interrupted?)")
            if summary.statistics is None:
                raise BagError(f"{self.path}: the MCAP summary has no statistics record (rosbag2 always writes one)")
            self._load(summary)
        except BaseException:
            self._file.close()
            raise

    def _check_frame(self) -> None:
        size = self.path.stat().st_size
        head = self._file.read(len(MAGIC))
        if head != MAGIC:
            raise BagError(f"{self.path}: not an MCAP file (it does not start with the MCAP magic bytes)")
        self._file.seek(max(0, size - len(MAGIC)))
        if size < 2 * len(MAGIC) + 20 or self._file.read(len(MAGIC)) != MAGIC:
            suffix = " (an unfinished recording)" if self.path.name.endswith(PARTIAL_SUFFIX) else ""
            raise BagError(f"{self.path}: truncated MCAP file{suffix}: it ends without the MCAP footer, so the "
                           f"recording was cut off or the copy is incomplete ({size} bytes)")
        self._file.seek(0)

    def _load(self, summary) -> None:
        import yaml

        stats = summary.statistics
        self.start_ns, self.end_ns = stats.message_start_time, stats.message_end_time
        self.message_count = stats.message_count
        self.topics: dict[str, BagTopic] = {}
        for channel_id, channel in sorted(summary.channels.items()):
            if channel.message_encoding != MESSAGE_ENCODING:
                raise BagError(f"{self.path}: topic {channel.topic} has message encoding "
                               f"{channel.message_encoding!r}, not {MESSAGE_ENCODING!r}: not a ROS 2 bag")
            schema = summary.schemas.get(channel.schema_id)
            if schema is None:
                raise BagError(f"{self.path}: topic {channel.topic} has no schema (message type unknown)")
            try:
                qos = tuple(yaml.safe_load(channel.metadata.get("offered_qos_profiles") or "[]") or ())
            except yaml.YAMLError as exc:
                raise BagError(f"{self.path}: topic {channel.topic} has unreadable offered_qos_profiles") from exc
            self.topics[channel.topic] = BagTopic(channel.topic, normalize_type(schema.name),
                                                  stats.channel_message_counts.get(channel_id, 0), qos)

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) * 1e-9 if self.message_count else 0.0

    def messages(self, topics=None) -> Iterator[BagMessage]:
        """Messages of `topics` (all if None) in receive-time order; BagError if a chunk is damaged."""
        count = 0
        try:
            for _schema, channel, message in self._reader.iter_messages(topics=topics, log_time_order=True):
                count += 1
                yield BagMessage(channel.topic, bytes(message.data), message.log_time, message.publish_time)
        except Exception as exc:  # noqa: BLE001 - McapError (CRC, record), struct.error, zstd errors...
            raise BagError(f"{self.path}: damaged message data after {count} good messages, the rest cannot be "
                           f"read ({_describe(exc)})") from exc

    def validate(self) -> int:
        """Read every message (checks each chunk's CRC); returns the count."""
        count = sum(1 for _ in self.messages())
        if count != self.message_count:
            raise BagError(f"{self.path}: summary counts {self.message_count} messages but {count} were read")
        return count

    def info(self) -> str:
        lines = [f"{self.path}: {self.message_count} messages, {self.duration_s:.2f} s, "
                 f"{self.path.stat().st_size / 1e6:.2f} MB"]
        for t in self.topics.values():
            reliability = ",".join(sorted({str(q.get("reliability")) for q in t.offered_qos})) or "?"
            lines.append(f"  {t.name:48s} {t.type:40s} {t.count:7d} msgs  ({reliability})")
        return "\n".join(lines)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Bag:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_bag(path: str | os.PathLike) -> Bag:
    return Bag(path)


# ------------------------------------------------------------------------------------------------- QoS
def _policy(enum, value, default):
    """A rosbag2 QoS policy value (name, e.g. 'best_effort', or the integer of old bags) as an rclpy enum."""
    if isinstance(value, int):
        try:
            return enum(value)
        except ValueError:
            return default
    if isinstance(value, str) and value.upper() in enum.__members__:
        return enum[value.upper()]
    return default


def _duration(value) -> Duration | None:
    if not isinstance(value, dict):
        return None
    ns = int(value.get("sec", 0)) * 1_000_000_000 + int(value.get("nsec", 0))
    return None if ns <= 0 or ns >= 0x7FFFFFFFFFFFFFFF else Duration(nanoseconds=ns)


def offered_qos(topic: BagTopic) -> QoSProfile:
    """The QoS to publish a topic with: what its first recorded publisher offered (reliable depth 10 if unknown)."""
    if not topic.offered_qos:
        return QoSProfile(depth=10)
    q = topic.offered_qos[0]
    history = _policy(QoSHistoryPolicy, q.get("history"), QoSHistoryPolicy.KEEP_LAST)
    if history not in (QoSHistoryPolicy.KEEP_LAST, QoSHistoryPolicy.KEEP_ALL):
        history = QoSHistoryPolicy.KEEP_LAST
    profile = QoSProfile(
        history=history, depth=max(1, int(q.get("depth") or 10)),
        reliability=_policy(QoSReliabilityPolicy, q.get("reliability"), QoSReliabilityPolicy.RELIABLE),
        durability=_policy(QoSDurabilityPolicy, q.get("durability"), QoSDurabilityPolicy.VOLATILE),
        liveliness=_policy(QoSLivelinessPolicy, q.get("liveliness"), QoSLivelinessPolicy.SYSTEM_DEFAULT))
    for name in ("deadline", "lifespan", "liveliness_lease_duration"):
        if (d := _duration(q.get(name))) is not None:
            setattr(profile, name, d)
    return profile


# ------------------------------------------------------------------------------------------------- replay
def is_sensor_topic(topic: BagTopic) -> bool:
    """Restamped by default: sensor_msgs messages (joint states, camera images and info)."""
    return topic.type.startswith("sensor_msgs/")


class ReplayNode(Node):
    """Publishes a bag's messages with the recorded timing divided by `rate`.

    restamp: 'sensors' (default) gives sensor_msgs messages a header stamp of now, 'all' does so for every message
    with a header, 'none' keeps the recorded stamps. Messages that shared a recorded stamp (one camera frame and
    its joint state) share the new stamp, and a zero stamp ("now" to a controller) stays zero.
    """

    def __init__(self, bag: Bag, topics=None, rate: float = 1.0, restamp: str = "sensors", loop: bool = False,
                 remap: dict[str, str] | None = None, name: str = "replay", **kwargs) -> None:
        super().__init__(name, **kwargs)
        if not rate > 0:
            raise BagError(f"rate must be > 0, got {rate}")
        if restamp not in RESTAMP_MODES:
            raise BagError(f"restamp must be one of {RESTAMP_MODES}, got {restamp!r}")
        unknown = [t for t in (topics or []) if t not in bag.topics]
        if unknown:
            raise BagError(f"{bag.path} has no topic {', '.join(unknown)}; it has {', '.join(bag.topics)}")
        self.bag, self.rate, self.loop, self.remap = bag, float(rate), loop, dict(remap or {})
        self.publishers_by_topic = {}
        self._classes, self._restamped = {}, set()
        for name_, topic in bag.topics.items():
            if topics and name_ not in topics:
                continue
            try:
                cls = message_class(topic.type)
            except BagError as exc:
                if topics:
                    raise
                self.get_logger().warning(f"skipping {name_}: {exc}")
                continue
            self._classes[name_] = cls
            self.publishers_by_topic[name_] = self.create_publisher(cls, self.remap.get(name_, name_),
                                                                    offered_qos(topic))
            has_header = "header" in cls.get_fields_and_field_types()
            if has_header and (restamp == "all" or (restamp == "sensors" and is_sensor_topic(topic))):
                self._restamped.add(name_)
        self._new_stamps: collections.OrderedDict = collections.OrderedDict()
        self.published = 0
        self.loops = 0

    @property
    def restamped_topics(self) -> set[str]:
        return set(self._restamped)

    def _stamp_for(self, stamp) -> Time:
        key = (stamp.sec, stamp.nanosec)
        if key == (0, 0):
            return stamp
        new = self._new_stamps.get(key)
        if new is None:
            new = self.get_clock().now().to_msg()
            self._new_stamps[key] = new
            if len(self._new_stamps) > 256:
                self._new_stamps.popitem(last=False)
        return new

    def publish_one(self, message: BagMessage) -> None:
        publisher = self.publishers_by_topic[message.topic]
        if message.topic in self._restamped:
            msg = deserialize_message(message.data, self._classes[message.topic])
            msg.header.stamp = self._stamp_for(msg.header.stamp)
            publisher.publish(msg)
        else:
            publisher.publish(message.data)
        self.published += 1

    def play(self, stop: threading.Event | None = None, status=None, status_period_s: float = 1.0) -> int:
        """Publish until the bag ends (or forever with loop) or `stop` is set; returns messages published."""
        stop = stop or threading.Event()
        topics = list(self.publishers_by_topic)
        if not topics:
            return 0
        next_status = time.monotonic() + status_period_s
        busiest = max((self.bag.topics[t] for t in topics), key=lambda t: t.count)
        loop_gap_s = self.bag.duration_s / max(1, busiest.count - 1) / self.rate  # one period between passes
        while not stop.is_set():
            first_ns, start = None, time.monotonic()
            self._new_stamps.clear()  # a new pass gets new stamps, not the last pass's
            for message in self.bag.messages(topics):
                if first_ns is None:
                    first_ns = message.log_time_ns
                delay = start + (message.log_time_ns - first_ns) * 1e-9 / self.rate - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    break
                if stop.is_set() or not self.context.ok():
                    stop.set()
                    break
                self.publish_one(message)
                if status is not None and time.monotonic() >= next_status:
                    next_status += status_period_s
                    status(f"replaying {(message.log_time_ns - first_ns) * 1e-9:6.1f} / {self.bag.duration_s:.1f} s "
                           f"(x{self.rate:g}, loop {self.loops + 1}) | {self.published} msgs")
            self.loops += 1
            if not self.loop or first_ns is None or stop.wait(loop_gap_s):
                break
        return self.published


# ------------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=pathlib.Path, help="a rosbag2 bag directory or .mcap file (from `jepa-mpc "
                        "record`, `ros2 bag record -s mcap` or rosbags)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (2: twice as fast)")
    parser.add_argument("--topics", default="",
                        help="comma-separated topics to publish (default: all). To feed live mpc/safety_filter "
                             "nodes, publish only their inputs, e.g. /joint_states,/camera/image_raw,"
                             "/camera/camera_info,/goal_image,/goal_pose, not the recorded commands")
    parser.add_argument("--loop", action="store_true", help="start again at the end, until Ctrl-C")
    parser.add_argument("--restamp", choices=RESTAMP_MODES, default="sensors",
                        help="rewrite header stamps to now: 'sensors' (default) for sensor_msgs topics (joint "
                             "states, camera images and info), so the safety filter's and MPC's staleness "
                             "watchdogs accept old data as fresh; 'all' also for trajectories, poses and "
                             "diagnostics; 'none' keeps the recorded stamps (the watchdogs will then hold the arm). "
                             "Messages that shared a stamp keep sharing one; zero stamps stay zero")
    parser.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                        help="publish a recorded topic under another name, e.g. /sim/goal_image:=/goal_image")
    parser.add_argument("--delay", type=float, default=0.5,
                        help="seconds to wait after creating publishers, so subscribers connect first")
    parser.add_argument("--info", action="store_true", help="print the bag's topics and counts, check it, and exit")


def _parse_remaps(items: list[str]) -> dict[str, str]:
    remap = {}
    for item in items:
        source, sep, target = item.partition(":=")
        if not sep or not source or not target:
            raise BagError(f"--remap wants FROM:=TO, got {item!r}")
        remap[source] = target
    return remap


def replay(path, topics=None, rate: float = 1.0, restamp: str = "sensors", loop: bool = False,
           remap: dict[str, str] | None = None, delay_s: float = 0.5, stop: threading.Event | None = None,
           status=None, ros_args: list[str] | None = None) -> int:
    """Open, check and play `path` in a fresh rclpy context; returns the number of messages published."""
    stop = stop or threading.Event()
    with open_bag(path) as bag:
        context = rclpy.Context()
        rclpy.init(args=ros_args, context=context, signal_handler_options=SignalHandlerOptions.NO)
        node = None
        try:
            node = ReplayNode(bag, topics, rate=rate, restamp=restamp, loop=loop, remap=remap, context=context)
            if delay_s > 0:
                stop.wait(delay_s)
            return node.play(stop, status=status)
        except KeyboardInterrupt:
            return node.published if node is not None else 0
        finally:
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown(context=context)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.info:
            with open_bag(args.bag) as bag:
                print(bag.info())  # noqa: T201 (CLI output)
                bag.validate()
                print("ok: every chunk passed its CRC check")  # noqa: T201 (CLI output)
            return 0
        topics = [t.strip() for t in args.topics.split(",") if t.strip()] or None
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        try:
            published = replay(args.bag, topics, rate=args.rate, restamp=args.restamp, loop=args.loop,
                               remap=_parse_remaps(args.remap), delay_s=args.delay, stop=stop, status=print_status)
        finally:
            end_status()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    except BagError as exc:
        log.error("error: %s", exc)
        return 1
    log.info("published %d messages from %s", published, args.bag)
    return 0

