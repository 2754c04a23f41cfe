"""A fake "real arm driver": speaks only the ros2_control topics (joint states out, JTC trajectories in) plus a
camera, with switches to make each stream go silent or send garbage. No MuJoCo dynamics: the arm is where a
JointTrajectoryController's interpolation of the commands puts it (robots/trajectory_follower.py), which is what
a perfectly tracking controller would do. Like a real driver it works in the driver's joint convention (for the
embedded Panda: Franka's, joint 6 = the description's + pi/2).
"""
from __future__ import annotations

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory

from jepa_mpc.robots import load_robot
from jepa_mpc.robots.panda import GRIPPER_OPEN
from jepa_mpc.robots.trajectory_follower import TrajectoryFollower
from jepa_mpc.ros_nodes.conversions import joint_state_msg, rgb_to_image_msg, trajectory_to_array

PANDA = load_robot("panda")
HOME_DRIVER = PANDA.to_driver(PANDA.home)
"""The Panda's home pose as Franka's driver reports it."""


class FakeArmDriver(Node):
    def __init__(self, context, period_s: float = 0.1, topic: str = "/joint_trajectory_controller/joint_trajectory",
                 fingers: bool = False, robot=PANDA):
        super().__init__("fake_driver", context=context)
        self.robot = load_robot(robot)
        self.joint_names = self.robot.joint_names
        self.q = self.robot.to_driver(self.robot.home)  # driver convention
        self.controller = TrajectoryFollower(self.q)
        self.commands: list[tuple[float, np.ndarray]] = []  # (receive time s, first point, driver convention)
        self.starts: list[np.ndarray] = []  # where the controller was when each command came: its motion's start
        self.camera_on = True
        self.joints_on = True
        self.fingers = fingers  # also publish the (open) finger joints, as the sim bridge does
        self.pub_js = self.create_publisher(JointState, "/joint_states", qos_profile_sensor_data)
        self.pub_img = self.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)
        self.create_subscription(JointTrajectory, topic, self._on_command, 10)
        self.create_timer(period_s, self._tick)

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_command(self, msg: JointTrajectory) -> None:
        positions, times = trajectory_to_array(msg, self.joint_names)
        now = self.now_s()
        self.commands.append((now, positions[0]))
        self.starts.append(self.controller.target_at(now))
        self.controller.set_trajectory(positions, times, now, now)  # stamp 0: starts on receipt

    def _tick(self) -> None:
        stamp = self.get_clock().now().to_msg()
        self.q = self.controller.target_at(self.now_s())
        if self.joints_on:
            names, q = self.joint_names, self.q
            fingers = self.robot.finger_joint_names
            if self.fingers and fingers:
                names, q = (*names, *fingers), np.r_[self.q, np.full(len(fingers), GRIPPER_OPEN)]
            self.pub_js.publish(joint_state_msg(names, q, np.zeros(len(names)), stamp))
        if self.camera_on:
            self.pub_img.publish(rgb_to_image_msg(np.zeros((64, 64, 3), np.uint8), stamp, "camera"))
