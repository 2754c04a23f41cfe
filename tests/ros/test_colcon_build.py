"""`colcon build` of the package as it is in the repository, into a temporary directory, and what ROS tools need
from its install space: the node executables where `ros2 run jepa_mpc <exe>` looks (lib/jepa_mpc), the launch files
and package.xml under share/jepa_mpc, and the ament index marker that `ros2 launch` / `ros2 pkg` resolve the
package through. Skips (with the reason) where colcon is not installed; the `test` extra installs it."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_EXECUTABLES = ("jepa_mpc_sim_bridge", "jepa_mpc_mpc", "jepa_mpc_safety_filter")
COLCON_PLUGINS = ("colcon_core", "colcon_ros", "colcon_python_setup_py")


def _colcon() -> str:
    """The colcon executable beside this interpreter (its setup.py runs with the same Python), or skip."""
    missing = [name for name in COLCON_PLUGINS if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"colcon is not installed ({', '.join(missing)} missing; pip install -e '.[test]')")
    exe = shutil.which("colcon", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip(f"no colcon executable next to {sys.executable}")
    return exe


@pytest.fixture(scope="module")
def install_space(tmp_path_factory) -> Path:
    """Build once per module; returns the package's install prefix (isolated layout: install/jepa_mpc)."""
    colcon = _colcon()
    out = tmp_path_factory.mktemp("colcon")
    env = {k: v for k, v in os.environ.items() if k not in ("AMENT_PREFIX_PATH", "COLCON_PREFIX_PATH")}
    result = subprocess.run(
        [colcon, "--log-base", str(out / "log"), "build", "--paths", str(REPO),
         "--build-base", str(out / "build"), "--install-base", str(out / "install"), "--event-handlers",
         "console_direct-"],
        cwd=out, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"colcon build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return out / "install" / "jepa_mpc"


def test_node_executables_run_the_installed_nodes(install_space):
    """Each executable in lib/jepa_mpc (where `ros2 run` looks) is an entry point that, with the install space on
    the path as `setup.bash` puts it, loads the node's `main` from the install space, not from the checkout."""
    lib = install_space / "lib" / "jepa_mpc"
    site = next((install_space / "lib").glob("python3*/site-packages"))
    for name in NODE_EXECUTABLES:
        exe = lib / name
        assert exe.is_file() and os.access(exe, os.X_OK), f"{exe} missing or not executable"
        assert f"'console_scripts', '{name}'" in exe.read_text()
    code = ("import inspect, sys; from importlib.metadata import distribution; "
            "eps = {e.name: e for e in distribution('jepa_mpc').entry_points if e.group == 'console_scripts'}; "
            "print('\\n'.join(inspect.getfile(eps[n].load()) for n in sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-c", code, *NODE_EXECUTABLES], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    files = [Path(line) for line in result.stdout.split()]
    assert [f.name for f in files] == ["sim_bridge.py", "mpc_node.py", "safety_filter_node.py"]
    assert all(f.is_relative_to(site) for f in files), files


def test_share_and_ament_index_resolve_the_package(install_space, monkeypatch):
    """What `ros2 launch jepa_mpc sim_arm.launch.py` does first: find the package through AMENT_PREFIX_PATH."""
    marker = install_space / "share" / "ament_index" / "resource_index" / "packages" / "jepa_mpc"
    assert marker.is_file()
    share = install_space / "share" / "jepa_mpc"
    assert ET.parse(share / "package.xml").getroot().findtext("name") == "jepa_mpc"
    launch = {p.name for p in (share / "launch").iterdir()}
    assert {p.name for p in (REPO / "launch").glob("*.launch.py")} <= launch
    assert {p.name for p in (REPO / "launch").glob("*.yaml")} <= launch

    ament_index = pytest.importorskip("ament_index_python.packages")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(install_space))
    assert Path(ament_index.get_package_share_directory("jepa_mpc")) == share
    assert Path(ament_index.get_package_prefix("jepa_mpc")) == install_space
