"""`jepa-mpc record` / `replay`: a short run from the fake driver goes into a valid rosbag2-style MCAP file and
comes back out the same (data, order, timing); a recorder stopped from another thread or by SIGINT still leaves a
finalized file; truncated, unfinished and corrupt bags are refused with a clear BagError."""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("mcap")
from geometry_msgs.msg import PoseStamped  # noqa: E402
from mcap.reader import make_reader  # noqa: E402
from rclpy.event_handler import SubscriptionEventCallbacks  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from jepa_mpc.apps.cli import main as cli_main  # noqa: E402
from jepa_mpc.robots.panda import DRIVER_JOINTS as PANDA_ROS_JOINTS  # noqa: E402
from jepa_mpc.ros_nodes.conversions import s_to_stamp, stamp_to_s, trajectory_msg  # noqa: E402
from jepa_mpc.ros_nodes.recorder import (  # noqa: E402
    BagError,
    McapBagWriter,
    RecorderNode,
    message_definition,
    record,
)
from jepa_mpc.ros_nodes.replay import ReplayNode, offered_qos, open_bag  # noqa: E402
from jepa_mpc.ros_nodes.sim_bridge import LATCHED  # noqa: E402
from tests.ros.conftest import spin_until  # noqa: E402
from tests.ros.fake_driver import FakeArmDriver  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
RECORD_S = 1.5
PERIOD = 0.05
TOPICS = ["/joint_states", "/camera/image_raw", "/goal_pose", "/planned_trajectory"]
TYPES = {"/joint_states": JointState, "/camera/image_raw": Image, "/goal_pose": PoseStamped,
         "/planned_trajectory": JointTrajectory}
SUB_QOS = {"/joint_states": QoSProfile(depth=200, reliability=QoSReliabilityPolicy.BEST_EFFORT),
           "/camera/image_raw": QoSProfile(depth=200, reliability=QoSReliabilityPolicy.BEST_EFFORT),
           "/goal_pose": QoSProfile(depth=10, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL),
           "/planned_trajectory": QoSProfile(depth=100)}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """~1.5 s of the fake driver (best-effort sensors at 20 Hz), a latched goal published before the recorder
    starts, and reliable plans at 5 Hz, recorded in-process. Returns (bag path, what was published per topic)."""
    context = rclpy.Context()
    rclpy.init(context=context)
    out = tmp_path_factory.mktemp("bags") / "run.mcap"
    driver = FakeArmDriver(context, PERIOD)
    operator = rclpy.create_node("operator", context=context)
    goal_pub = operator.create_publisher(PoseStamped, "/goal_pose", LATCHED)
    goal = PoseStamped(header=Header(stamp=s_to_stamp(12.5), frame_id="world"))
    goal.pose.position.x, goal.pose.orientation.w = 0.4, 1.0
    goal_pub.publish(goal)
    plan_pub = operator.create_publisher(JointTrajectory, "/planned_trajectory", 10)
    plans = []

    def publish_plan():
        plan = trajectory_msg(PANDA_ROS_JOINTS, np.full((3, 7), 0.01 * len(plans)), 0.1,
                              operator.get_clock().now().to_msg())
        plans.append(plan)
        plan_pub.publish(plan)

    operator.create_timer(0.2, publish_plan)
    writer = McapBagWriter(out)
    recorder = RecorderNode(writer, TOPICS, context=context)
    executor = SingleThreadedExecutor(context=context)
    for node in (driver, operator, recorder):
        executor.add_node(node)
    try:
        assert spin_until(executor, lambda: len(recorder.subscribed) == len(TOPICS), timeout_s=5.0), recorder.missing
        deadline = time.monotonic() + RECORD_S
        spin_until(executor, lambda: time.monotonic() > deadline, timeout_s=RECORD_S + 1)
        lost = recorder.lost
    finally:
        executor.shutdown()
        for node in (recorder, operator, driver):
            node.destroy_node()
        writer.close()
        rclpy.try_shutdown(context=context)
    assert lost == 0
    return out


def _recorded_messages(path) -> dict[str, list]:
    with open_bag(path) as bag:
        per_topic: dict[str, list] = {}
        for m in bag.messages():
            per_topic.setdefault(m.topic, []).append(m)
        return per_topic


def test_message_definition_is_rosbag2_full_text():
    text = message_definition("sensor_msgs/msg/JointState")
    assert text.startswith("# This is a message that holds data")
    assert "\nfloat64[] effort\n" in text
    sections = text.split("=" * 80 + "\n")
    assert [s.splitlines()[0] for s in sections[1:]] == ["MSG: std_msgs/Header", "MSG: builtin_interfaces/Time"]


def test_bag_is_valid_mcap_with_topics_schemas_and_counts(recorded):
    assert recorded.is_file() and not recorded.with_name(recorded.name + ".partial").exists()
    with open(recorded, "rb") as f:
        reader = make_reader(f, validate_crcs=True)
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
        channels = {c.topic: c for c in summary.channels.values()}
        assert sorted(channels) == sorted(TOPICS)
        for topic, channel in channels.items():
            schema = summary.schemas[channel.schema_id]
            assert channel.message_encoding == "cdr" and schema.encoding == "ros2msg"
            assert schema.name == {JointState: "sensor_msgs/msg/JointState", Image: "sensor_msgs/msg/Image",
                                   PoseStamped: "geometry_msgs/msg/PoseStamped",
                                   JointTrajectory: "trajectory_msgs/msg/JointTrajectory"}[TYPES[topic]]
            assert "offered_qos_profiles" in channel.metadata
        counts = {channels_topic: summary.statistics.channel_message_counts[c.id]
                  for channels_topic, c in channels.items()}
    expected_ticks = RECORD_S / PERIOD
    assert 0.6 * expected_ticks <= counts["/joint_states"] <= expected_ticks + 10
    assert abs(counts["/camera/image_raw"] - counts["/joint_states"]) <= 2
    assert counts["/goal_pose"] == 1  # latched before the recorder started: delivered through transient local
    assert counts["/planned_trajectory"] >= 0.5 * RECORD_S / 0.2

    with open_bag(recorded) as bag:
        assert bag.validate() == sum(counts.values())
        qos = {t: offered_qos(bag.topics[t]) for t in TOPICS}
    assert qos["/joint_states"].reliability == QoSReliabilityPolicy.BEST_EFFORT
    assert qos["/goal_pose"].durability == QoSDurabilityPolicy.TRANSIENT_LOCAL
    assert qos["/planned_trajectory"].reliability == QoSReliabilityPolicy.RELIABLE

    # An independent decoder (mcap-ros2-support, which parses our schema text) reads the same values as rclpy.
    from mcap_ros2.decoder import DecoderFactory

    with open(recorded, "rb") as f:
        decoded = {}
        for _, channel, message, obj in make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
            decoded.setdefault(channel.topic, (message.data, obj))
    for topic in TOPICS:
        data, obj = decoded[topic]
        ours = deserialize_message(data, TYPES[topic])
        assert (obj.header.stamp.sec, obj.header.stamp.nanosec) == (ours.header.stamp.sec, ours.header.stamp.nanosec)
    assert list(decoded["/joint_states"][1].name) == list(PANDA_ROS_JOINTS)
    assert list(decoded["/joint_states"][1].effort) == [0.0] * 7
    assert bytes(decoded["/camera/image_raw"][1].data) == bytes(64 * 64 * 3)
    assert decoded["/goal_pose"][1].pose.position.x == pytest.approx(0.4)


def _replay_into_subscriber(bag_path, restamp: str, rate: float):
    """Replay `bag_path` into a subscriber in another rclpy context; returns {topic: [(recv time s, bytes)]}."""
    pub_context, sub_context = rclpy.Context(), rclpy.Context()
    rclpy.init(context=pub_context)
    rclpy.init(context=sub_context)
    bag = open_bag(bag_path)
    received: dict[str, list] = {t: [] for t in TOPICS}
    matched: set[str] = set()
    listener = rclpy.create_node("listener", context=sub_context)
    for topic in TOPICS:
        # Wait for the subscriber's side of the match too: best-effort messages sent before it are dropped.
        events = SubscriptionEventCallbacks(matched=lambda info, t=topic: info.current_count and matched.add(t))
        listener.create_subscription(TYPES[topic], topic,
                                     lambda data, t=topic: received[t].append((time.monotonic(), data)),
                                     SUB_QOS[topic], raw=True, event_callbacks=events)
    replayer = ReplayNode(bag, TOPICS, rate=rate, restamp=restamp, context=pub_context)
    executor = SingleThreadedExecutor(context=sub_context)
    executor.add_node(listener)
    counts = {t: bag.topics[t].count for t in TOPICS}
    try:
        assert spin_until(executor, lambda: len(matched) == len(TOPICS) and all(
            p.get_subscription_count() > 0 for p in replayer.publishers_by_topic.values()), timeout_s=5.0)
        player = threading.Thread(target=replayer.play)
        start = time.monotonic()
        player.start()
        done = spin_until(executor, lambda: not player.is_alive() and all(
            len(received[t]) >= counts[t] for t in TOPICS), timeout_s=bag.duration_s / rate + 5.0)
        player.join(timeout=5.0)
        assert done, {t: (len(received[t]), counts[t]) for t in TOPICS}
        return start, received, replayer
    finally:
        executor.shutdown()
        replayer.destroy_node()
        listener.destroy_node()
        bag.close()
        rclpy.try_shutdown(context=pub_context)
        rclpy.try_shutdown(context=sub_context)


def test_replay_round_trip_same_messages_order_and_timing(recorded):
    rate = 2.0
    recorded_msgs = _recorded_messages(recorded)
    start, received, replayer = _replay_into_subscriber(recorded, restamp="none", rate=rate)
    assert replayer.published == sum(len(v) for v in recorded_msgs.values())
    for topic in TOPICS:  # same bytes (stamps included), same order, nothing missing or extra
        assert [bytes(d) for _, d in received[topic]] == [m.data for m in recorded_msgs[topic]], topic
    # Timing: each joint state arrives at its recorded offset / rate (the replay clock starts at the first message).
    first_log = min(m.log_time_ns for msgs in recorded_msgs.values() for m in msgs)
    expected = np.array([(m.log_time_ns - first_log) * 1e-9 / rate for m in recorded_msgs["/joint_states"]])
    actual = np.array([t - start for t, _ in received["/joint_states"]])
    assert np.all(actual >= expected - 0.01)  # never early
    assert np.median(actual - expected) < 0.05 and np.max(actual - expected) < 0.3, actual - expected
    span = (actual[-1] - actual[0]) / (expected[-1] - expected[0])
    assert 0.8 < span < 1.25


def test_replay_restamps_sensor_topics_only(recorded):
    recorded_msgs = _recorded_messages(recorded)
    _, received, replayer = _replay_into_subscriber(recorded, restamp="sensors", rate=4.0)
    assert replayer.restamped_topics == {"/joint_states", "/camera/image_raw"}
    now = time.time()
    joints = [deserialize_message(d, JointState) for _, d in received["/joint_states"]]
    images = [deserialize_message(d, Image) for _, d in received["/camera/image_raw"]]
    assert all(now - 10 < stamp_to_s(m.header.stamp) <= now for m in joints)
    old = [stamp_to_s(deserialize_message(m.data, JointState).header.stamp) for m in recorded_msgs["/joint_states"]]
    assert stamp_to_s(joints[0].header.stamp) > old[-1]
    # A frame and the joint state of the same tick shared a stamp when recorded, and still do.
    assert {stamp_to_s(m.header.stamp) for m in joints} & {stamp_to_s(m.header.stamp) for m in images}
    assert [m.position.tolist() for m in joints] == [
        list(deserialize_message(m.data, JointState).position) for m in recorded_msgs["/joint_states"]]
    # Reliable, non-sensor topics keep their recorded stamps.
    goal = deserialize_message(received["/goal_pose"][0][1], PoseStamped)
    assert stamp_to_s(goal.header.stamp) == 12.5
    assert [bytes(d) for _, d in received["/planned_trajectory"]] == [m.data for m in
                                                                      recorded_msgs["/planned_trajectory"]]


def test_loop_replays_again_with_new_stamps(recorded, ros_context):
    class Capture:
        def __init__(self):
            self.stamps = []

        def publish(self, msg):
            self.stamps.append(stamp_to_s(msg.header.stamp))

    with open_bag(recorded) as bag:
        replayer = ReplayNode(bag, ["/joint_states"], rate=10.0, loop=True, context=ros_context)
        capture = replayer.publishers_by_topic["/joint_states"] = Capture()
        stop = threading.Event()
        player = threading.Thread(target=replayer.play, args=(stop,))
        player.start()
        count = bag.topics["/joint_states"].count
        deadline = time.monotonic() + 5.0
        while len(capture.stamps) < 2 * count + 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        player.join(timeout=5.0)
        replayer.destroy_node()
    assert replayer.loops >= 2 and not player.is_alive()
    first, second = capture.stamps[:count], capture.stamps[count:2 * count]
    assert len(second) == count and min(second) > max(first)  # not the first pass's stamps again
    assert np.all(np.diff(capture.stamps) >= 0)


def test_stop_from_another_thread_finalizes_the_bag(tmp_path, ros_context):
    out = tmp_path / "stopped.mcap"
    driver = FakeArmDriver(ros_context, PERIOD)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(driver)
    stop = threading.Event()
    result = {}
    recorder = threading.Thread(target=lambda: result.update(record(out, ["/joint_states"], stop=stop)))
    recorder.start()
    try:
        assert spin_until(executor, lambda: driver.pub_js.get_subscription_count() > 0, timeout_s=5.0)
        deadline = time.monotonic() + 0.6
        spin_until(executor, lambda: time.monotonic() > deadline)
        stop.set()  # mid-run, while messages keep coming
        spin_until(executor, lambda: not recorder.is_alive(), timeout_s=5.0)
    finally:
        stop.set()
        recorder.join(timeout=5.0)
        executor.shutdown()
        driver.destroy_node()
    assert result["messages"] >= 5 and result["lost"] == 0
    assert not (tmp_path / "stopped.mcap.partial").exists()
    with open_bag(out) as bag:
        assert bag.validate() == result["messages"] == bag.topics["/joint_states"].count


def test_sigint_to_recorder_process_leaves_a_readable_bag(tmp_path, ros_context):
    out = tmp_path / "sigint.mcap"
    driver = FakeArmDriver(ros_context, PERIOD)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(driver)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "jepa_mpc.apps.cli", "record", "--out", str(out),
                             "--topics", "/joint_states,/camera/image_raw", "--status-period", "0.2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert spin_until(executor, lambda: driver.pub_img.get_subscription_count() > 0 or proc.poll() is not None,
                          timeout_s=10.0)
        assert proc.poll() is None
        deadline = time.monotonic() + 0.5
        spin_until(executor, lambda: time.monotonic() > deadline)
        proc.send_signal(signal.SIGINT)
        spin_until(executor, lambda: proc.poll() is not None, timeout_s=10.0)
        output = proc.communicate(timeout=5.0)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        executor.shutdown()
        driver.destroy_node()
    assert proc.returncode == 0, output
    assert "recording" in output and "wrote" in output and "lost 0" in output, output
    with open_bag(out) as bag:
        assert bag.topics["/joint_states"].count >= 3
        assert bag.validate() == bag.message_count


def test_recorder_counts_gaps_in_each_publishers_sequence_numbers(tmp_path, ros_context):
    writer = McapBagWriter(tmp_path / "gaps.mcap")
    recorder = RecorderNode(writer, [], context=ros_context)
    try:
        writer.add_topic("/joint_states", "sensor_msgs/msg/JointState")
        for gid, seq in [(b"a", 1), (b"a", 2), (b"b", 7), (b"a", 5), (b"b", 8), (b"a", 6), (b"b", 10)]:
            recorder._on_message("/joint_states", b"\x00\x01\x00\x00", {  # noqa: SLF001
                "received_timestamp": 1_000 + seq, "source_timestamp": 900, "publication_sequence_number": seq,
                "publisher_gid": {"implementation_identifier": "rmw_fastrtps_cpp", "data": gid}})
        assert recorder.lost == 2 + 1  # publisher a skipped 3, 4; publisher b skipped 9
        assert writer.topics["/joint_states"].messages == 7
    finally:
        recorder.destroy_node()
        writer.close()


def test_damaged_bags_are_refused_with_a_clear_error(recorded, tmp_path, caplog):
    truncated = tmp_path / "truncated.mcap"
    data = recorded.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError, match="truncated MCAP file"):
        open_bag(truncated)
    assert cli_main(["replay", str(truncated), "--delay", "0"]) == 1
    assert "truncated MCAP file" in caplog.text

    # A chunk whose bytes changed (footer intact): the summary opens, reading the chunk fails its check.
    corrupt = tmp_path / "corrupt.mcap"
    shutil.copy(recorded, corrupt)
    with open(corrupt, "r+b") as f:
        f.seek(200)
        block = f.read(64)
        f.seek(200)
        f.write(bytes(b ^ 0xFF for b in block))
    with pytest.raises(BagError, match="damaged"), open_bag(corrupt) as bag:
        bag.validate()

    # A recorder killed before closing leaves only NAME.partial: named in the error, and refused itself.
    unfinished = tmp_path / "killed.mcap"
    writer = McapBagWriter(unfinished, chunk_size=1024)
    writer.add_topic("/joint_states", "sensor_msgs/msg/JointState")
    for i in range(50):
        writer.write("/joint_states", recorded_msgs_first(recorded), 1_000_000_000 + i)
    writer._file.flush()  # noqa: SLF001 - simulate a kill: data on disk, no summary, no rename
    with pytest.raises(BagError, match="killed.mcap.partial exists"):
        open_bag(unfinished)
    with pytest.raises(BagError, match="unfinished recording"):
        open_bag(writer.partial)
    writer._file.close()  # noqa: SLF001

    with pytest.raises(BagError, match="not an MCAP file"):
        (tmp_path / "text.mcap").write_text("hello")
        open_bag(tmp_path / "text.mcap")


def recorded_msgs_first(path) -> bytes:
    with open_bag(path) as bag:
        return next(m.data for m in bag.messages(["/joint_states"]))
