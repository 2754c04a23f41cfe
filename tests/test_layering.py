"""Layering: models/, planner/ and sim/ import and work without ROS; only ros_nodes/ may import rclpy."""
from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_core_packages_import_with_rclpy_blocked():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('rclpy', 'sensor_msgs', 'trajectory_msgs', 'std_msgs'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import pkgutil, importlib\n"
        "import jepa_mpc.sim, jepa_mpc.models, jepa_mpc.planner\n"
        "for pkg in (jepa_mpc.sim, jepa_mpc.models, jepa_mpc.planner):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_no_rclpy_import_outside_ros_nodes():
    pattern = re.compile(r"^\s*(import|from)\s+(rclpy|sensor_msgs|trajectory_msgs|std_msgs|geometry_msgs)\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for folder in ("sim", "models", "planner")
                 for p in (ROOT / folder).rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_installed_as_one_namespace():
    import jepa_mpc.models
    import jepa_mpc.planner
    import jepa_mpc.sim

    for module, folder in ((jepa_mpc.sim, "sim"), (jepa_mpc.models, "models"), (jepa_mpc.planner, "planner")):
        assert pathlib.Path(module.__file__).parent == ROOT / folder
