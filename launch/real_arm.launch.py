"""Real arm graph: mpc + safety_filter in front of a real driver's ros2_control controllers.

    ros2 launch jepa_mpc real_arm.launch.py params:=/path/to/real_arm.yaml [robot_description:=/path/arm.urdf]

The driver (e.g. franka_ros2 or ur_robot_driver) runs separately and provides /joint_states, a camera driver
provides the image topic, and its joint_trajectory_controller receives the safety filter's output. The arm is the
parameter file's robot_description (launch/real_arm.yaml: the embedded Panda with Franka's driver offsets; "" takes
the /robot_description topic the driver's robot_state_publisher serves); the launch argument robot_description
(a robot name or a URDF/MJCF file) overrides it for both nodes. Joint names, limits, zones and the controller
topic are parameters (see launch/real_arm.yaml). The node list comes from jepa_mpc.ros_nodes.graph, shared with
`jepa-mpc bringup real`.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from jepa_mpc.ros_nodes.graph import GRAPHS, default_params


def _nodes(context, *args, **kwargs):
    params = LaunchConfiguration("params").perform(context)
    robot = LaunchConfiguration("robot_description").perform(context).strip()
    overrides = [{"robot_description": ParameterValue(robot, value_type=str)}] if robot else []
    return [Node(package="jepa_mpc", executable=spec.executable, name=spec.name, parameters=[params, *overrides],
                 output="screen") for spec in GRAPHS["real"]]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("params", default_value=str(default_params("real")),
                              description="YAML parameter file (joint names, limits, zones, controller topic)"),
        DeclareLaunchArgument("robot_description", default_value="",
                              description="the arm for both nodes (panda, robosuite:NAME, pybullet_data:PATH, a "
                                          "URDF/MJCF file); empty: the parameter file's (which may be '' for the "
                                          "/robot_description topic)"),
        OpaqueFunction(function=_nodes),
    ])
