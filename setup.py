"""Shim for colcon's ament_python build: metadata lives in pyproject.toml; this adds the ROS data files."""
from glob import glob

from setuptools import setup

setup(
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/jepa_mpc"]),
        ("share/jepa_mpc", ["package.xml"]),
        ("share/jepa_mpc/launch", glob("launch/*.launch.py") + glob("launch/*.yaml")),
    ],
)
