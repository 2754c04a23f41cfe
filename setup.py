"""Shim for colcon's ament_python build: metadata lives in pyproject.toml; this adds what colcon needs from setup().

- data_files: package.xml, the launch files and the ament index marker (resource/jepa_mpc), so the install space
  has share/jepa_mpc/{package.xml,launch/} and share/ament_index/resource_index/packages/jepa_mpc and `ros2 launch
  jepa_mpc ...` finds the package.
- python_requires as a plain string (pyproject.toml lists it as dynamic): colcon-python-setup-py runs
  `setup.py --dry-run` and literal_evals the printed attributes; a value that setuptools read from [project]
  `requires-python` is a SpecifierSet, whose repr is not a literal, and colcon build fails on it.
"""
from glob import glob

from setuptools import setup

setup(
    python_requires=">=3.10",
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/jepa_mpc"]),
        ("share/jepa_mpc", ["package.xml"]),
        ("share/jepa_mpc/launch", sorted(glob("launch/*.launch.py") + glob("launch/*.yaml") + glob("launch/*.xml"))),
    ],
)
