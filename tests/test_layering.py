"""Layering: robots <- models <- tasks <- planner, sim <- ros_nodes <- apps (import-linter's contract, pyproject.toml);
robots/, models/, tasks/, planner/ and sim/ import and work without ROS; only ros_nodes/ may import rclpy."""
from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

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
        "import jepa_mpc.robots, jepa_mpc.sim, jepa_mpc.models, jepa_mpc.tasks, jepa_mpc.planner\n"
        "for pkg in (jepa_mpc.robots, jepa_mpc.sim, jepa_mpc.models, jepa_mpc.tasks, jepa_mpc.planner):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_no_rclpy_import_outside_ros_nodes():
    pattern = re.compile(r"^\s*(import|from)\s+(rclpy|sensor_msgs|trajectory_msgs|std_msgs|geometry_msgs)\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for folder in ("robots", "sim", "models", "tasks", "planner", "apps")
                 for p in (ROOT / folder).rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_installed_as_one_namespace():
    import jepa_mpc.apps
    import jepa_mpc.models
    import jepa_mpc.planner
    import jepa_mpc.robots
    import jepa_mpc.ros_nodes
    import jepa_mpc.sim
    import jepa_mpc.tasks

    for module, folder in ((jepa_mpc.sim, "sim"), (jepa_mpc.models, "models"), (jepa_mpc.planner, "planner"),
                           (jepa_mpc.tasks, "tasks"),
                           (jepa_mpc.robots, "robots"), (jepa_mpc.ros_nodes, "ros_nodes"), (jepa_mpc.apps, "apps")):
        assert pathlib.Path(module.__file__).parent == ROOT / folder


def _lint_imports(cwd: pathlib.Path) -> subprocess.CompletedProcess:
    exe = pathlib.Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--no-cache", "--no-logo"], cwd=cwd, capture_output=True, text=True)


def test_layer_contract_holds():
    """import-linter's layers contract (pyproject.toml [tool.importlinter]): no upward or sideways import."""
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout


@pytest.mark.parametrize("importer, imported", [("planner", "sim.tasks"), ("tasks", "planner.config")])
def test_layer_contract_catches_a_sideways_or_upward_import(importer, imported):
    """The contract is live: a planner module importing the sim (sideways), or a task importing the planner
    (upward), breaks it."""
    bad = ROOT / importer / "_layering_probe.py"
    try:
        bad.write_text(f"import jepa_mpc.{imported}  # noqa: F401\n")
        out = _lint_imports(ROOT)
    finally:
        bad.unlink()
    assert out.returncode != 0
    layer = imported.split(".")[0]
    assert f"jepa_mpc.{importer} is not allowed to import jepa_mpc.{layer}" in out.stdout.replace("\n", " ")
