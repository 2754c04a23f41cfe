"""`jepa-mpc demo` (the README's first command) brings up the graph, reaches the goal and writes its outputs."""
from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("rclpy")
pytestmark = pytest.mark.slow


def test_demo_reaches_image_goal_and_writes_gif_plot_summary(tmp_path, capsys):
    import imageio.v3 as iio

    from jepa_mpc.apps.cli import main
    from jepa_mpc.ros_nodes.graph import default_params

    # A light CEM: this checks the demo's plumbing; in one Python process a heavy planner starves message delivery.
    params = tmp_path / "params.yaml"
    text, n = re.subn(r"num_samples: \d+", "num_samples: 64", default_params("sim").read_text())
    assert n == 1, "launch/sim_arm.yaml should set mpc num_samples once"
    params.write_text(text)
    code = main(["demo", "--goal", "image", "--seed", "3", "--timeout", "40", "--quiet", "--params", str(params),
                 "--out", str(tmp_path)])
    summary = json.loads((tmp_path / "demo.json").read_text())
    assert code == 0 and summary["result"] == "reached", summary
    assert summary["final_distance_m"] <= 0.05 and summary["plan_ms_p50"] > 0
    frames = iio.imread(tmp_path / "demo.gif")
    assert frames.ndim == 4 and frames.shape[0] > 3 and frames.shape[2] == 2 * frames.shape[1]  # camera | goal
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert '"result": "reached"' in capsys.readouterr().out
