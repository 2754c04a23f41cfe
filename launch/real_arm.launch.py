"""Real arm graph: mpc + safety_filter in front of a real driver's ros2_control controllers.

    ros2 launch jepa_mpc real_arm.launch.py params:=/path/to/real_arm.yaml

The driver (e.g. franka_ros2 or ur_robot_driver) runs separately and provides /joint_states, a camera driver
provides the image topic, and its joint_trajectory_controller receives the safety filter's output. Joint names,
limits, zones and the controller topic are parameters (see launch/real_arm.yaml). The node list comes from
jepa_mpc.ros_nodes.graph, shared with `jepa-mpc bringup real`.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from jepa_mpc.ros_nodes.graph import GRAPHS, default_params


def generate_launch_description():
    params = LaunchConfiguration("params")
    nodes = [
        Node(package="jepa_mpc", executable=spec.executable, name=spec.name, parameters=[params], output="screen")
        for spec in GRAPHS["real"]
    ]
    return LaunchDescription([
        DeclareLaunchArgument("params", default_value=str(default_params("real")),
                              description="YAML parameter file (joint names, limits, zones, controller topic)"),
        *nodes,
    ])
