"""rosbag2 bag directories both ways with an independent implementation (`rosbags`): `record --out DIR` writes a
directory `rosbags` reads (metadata.yaml + MCAP, topics, counts, QoS, message contents), and `replay DIR` plays a
directory `rosbags` wrote."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tests.ros.conftest import spin_until

rclpy = pytest.importorskip("rclpy")
rosbag2 = pytest.importorskip("rosbags.rosbag2", reason="rosbags is in the test extra")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402

from jepa_mpc.ros_nodes.recorder import BagError, record  # noqa: E402
from jepa_mpc.ros_nodes.replay import open_bag, replay  # noqa: E402
from tests.ros.fake_driver import PANDA, FakeArmDriver  # noqa: E402

TYPESTORE = get_typestore(Stores.ROS2_KILTED)


def test_record_writes_a_rosbag2_directory_that_rosbags_reads(ros_context, tmp_path):
    out = tmp_path / "run"
    driver = FakeArmDriver(ros_context, 0.05)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(driver)
    stop, summary = threading.Event(), {}
    recorder = threading.Thread(target=lambda: summary.update(record(out, ["/joint_states"], stop=stop)))
    recorder.start()
    try:
        # the recorder (its own context) subscribes once it sees the publisher; then record ~1 s at 20 Hz
        assert spin_until(executor, lambda: driver.pub_js.get_subscription_count() > 0, timeout_s=20.0)
        spin_until(executor, lambda: False, timeout_s=1.0)
    finally:
        stop.set()
        recorder.join(timeout=20.0)
        executor.shutdown()
        driver.destroy_node()
    count = summary["topics"]["/joint_states"]
    assert count >= 10 and summary["path"] == str(out)
    assert sorted(p.name for p in out.iterdir()) == ["metadata.yaml", "run_0.mcap"]
    assert not (tmp_path / "run.partial").exists()

    with rosbag2.Reader(out) as reader:
        assert reader.message_count == count
        (connection,) = reader.connections
        assert (connection.topic, connection.msgtype) == ("/joint_states", "sensor_msgs/msg/JointState")
        assert connection.ext.offered_qos_profiles[0].reliability.name == "BEST_EFFORT"
        stamps = []
        for _, timestamp, data in reader.messages():
            msg = TYPESTORE.deserialize_cdr(data, connection.msgtype)
            assert list(msg.name) == list(PANDA.joint_names)
            stamps.append(timestamp)
        assert len(stamps) == count and stamps == sorted(stamps)
        assert reader.start_time == stamps[0] and reader.end_time == stamps[-1] + 1  # rosbags: end is exclusive

    with open_bag(out) as bag:  # and our own replay reads the directory
        assert bag.topics["/joint_states"].count == count == bag.validate()


def test_replay_plays_a_directory_written_by_rosbags(ros_context, tmp_path):
    bag_dir = tmp_path / "from_rosbags"
    joint_state_t = TYPESTORE.types["sensor_msgs/msg/JointState"]
    header_t, time_t = TYPESTORE.types["std_msgs/msg/Header"], TYPESTORE.types["builtin_interfaces/msg/Time"]
    sent = []
    with rosbag2.Writer(bag_dir, version=9, storage_plugin=rosbag2.StoragePlugin.MCAP) as writer:
        connection = writer.add_connection("/joint_states", "sensor_msgs/msg/JointState", typestore=TYPESTORE)
        t0 = time.time_ns()
        for i in range(20):
            msg = joint_state_t(header=header_t(stamp=time_t(sec=100 + i, nanosec=0), frame_id=""), name=["j1", "j2"],
                              position=np.array([0.1 * i, -0.1 * i]), velocity=np.zeros(0),
                              effort=np.zeros(0))
            sent.append(msg.position.tolist())
            writer.write(connection, t0 + i * 10_000_000, TYPESTORE.serialize_cdr(msg, connection.msgtype))

    listener = rclpy.create_node("listener", context=ros_context)
    received: list[JointState] = []
    listener.create_subscription(JointState, "/joint_states", received.append, 100)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(listener)
    result = {}
    player = threading.Thread(target=lambda: result.update(n=replay(bag_dir, rate=1.0, restamp="none",
                                                                      delay_s=1.0)))
    player.start()
    try:
        assert spin_until(executor, lambda: len(received) == len(sent), timeout_s=20.0), len(received)
    finally:
        player.join(timeout=20.0)
        executor.shutdown()
        listener.destroy_node()
    assert result["n"] == len(sent)
    assert [list(m.position) for m in received] == sent
    assert [m.header.stamp.sec for m in received] == [100 + i for i in range(20)]


def test_directories_that_cannot_be_played_say_why(tmp_path):
    empty = tmp_path / "not_a_bag"
    empty.mkdir()
    with pytest.raises(BagError, match="metadata.yaml"):
        open_bag(empty)
    sqlite = tmp_path / "sqlite_bag"
    with rosbag2.Writer(sqlite, version=9) as writer:  # rosbags' default storage: sqlite3
        writer.add_connection("/joint_states", "sensor_msgs/msg/JointState", typestore=TYPESTORE)
    with pytest.raises(BagError, match="only MCAP"):
        open_bag(sqlite)
