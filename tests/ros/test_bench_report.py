"""`jepa-mpc bench`: the quick report has a positive, finite figure in every section (planner, encoder, training,
ROS loop) and a markdown table naming each; `--skip-ros` works with rclpy blocked; bad input exits non-zero with a
message. The ROS section runs on this run's ROS_DOMAIN_ID with LOCALHOST discovery (tests/conftest.py)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

pytest.importorskip("rclpy")
import torch  # noqa: E402

from jepa_mpc.apps.cli import SUBCOMMANDS, main  # noqa: E402
from jepa_mpc.ros_nodes.bench_report import SECTIONS  # noqa: E402


@pytest.fixture
def keep_torch_threads():
    """`--threads` sets torch's thread count for the whole process; put it back afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _positive_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _assert_the_arm_was_commanded(ros: dict) -> None:
    """The quick ROS run (3 s at 10 Hz) commanded the arm about every period, frame -> command took a few
    periods (p50 < 1 s, docs/benchmarks.md: 115-578 ms), and the holds counted are fewer than the commands (the
    watchdog may hold some ticks on a loaded machine, not all of them)."""
    assert _positive_finite(ros["p50_ms"]) and ros["p50_ms"] < 1000, ros
    assert ros["commands"] >= 10, ros
    assert isinstance(ros["holds"], int) and 0 <= ros["holds"] < ros["commands"], ros
    assert f"{ros['commands']} commands, {ros['holds']} holds" in ros["note"], ros


@pytest.mark.slow
def test_quick_report_has_every_section(tmp_path, capsys, keep_torch_threads):
    assert SUBCOMMANDS["bench"][0] == "jepa_mpc.ros_nodes.bench_report"
    code = main(["bench", "--quick", "--device", "cpu", "--threads", "1", "--out", str(tmp_path),
                 "--ros-domain-id", os.environ["ROS_DOMAIN_ID"]])
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["sections"] == list(SECTIONS)
    for section in SECTIONS:
        rows = [r for r in report["rows"] if r["section"] == section]
        assert rows, f"no {section} rows"
        for r in rows:
            figures = [r[k] for k in ("p50_ms", "p99_ms", "rate") if r[k] is not None]
            assert figures and all(_positive_finite(v) for v in figures), r
            assert r["p99_ms"] is None or r["p99_ms"] >= r["p50_ms"], r
    planner = {r["what"].split()[0] for r in report["rows"] if r["section"] == "planner"}
    assert planner == {"CEM", "gradient", "hybrid"}
    (ros,) = [r for r in report["rows"] if r["section"] == "ros"]
    assert ros["unit"] == "plans/s"
    _assert_the_arm_was_commanded(ros)
    env = report["env"]
    assert env["torch"] == torch.__version__ and env["torch_threads"] == 1 and env["date"] and env["cpu_cores"] >= 1
    assert len(report["checkpoint"]["weights_sha256"]) == 64

    md = (tmp_path / "report.md").read_text()
    assert "| section | what | p50 ms | p99 ms | rate | notes |" in md
    for section in SECTIONS:
        assert f"\n| {section} | " in md, section
    assert f"torch {torch.__version__}" in md and env["date"] in md
    printed = capsys.readouterr().out
    assert "frame stamp -> arm command" in printed and "windows/s" in printed


def _bench_without_rclpy(*argv: str) -> subprocess.CompletedProcess:
    """`jepa-mpc bench ARGV` in a child process where importing rclpy or ROS messages fails."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('rclpy', 'sensor_msgs', 'trajectory_msgs', 'diagnostic_msgs'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from jepa_mpc.apps.cli import main\n"
        f"sys.exit(main(['bench', *{list(argv)!r}]))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_the_ros_loop_with_a_process_per_node_commands_the_arm_and_leaves_no_process(tmp_path, keep_torch_threads):
    """`--ros-processes per-node` starts sim_bridge, mpc and safety_filter as child processes (as ros2 launch does),
    times frame -> command from this process, and stops every child afterwards."""
    code = main(["bench", "--quick", "--device", "cpu", "--threads", "1", "--skip-train", "--out", str(tmp_path),
                 "--ros-processes", "per-node", "--ros-domain-id", os.environ["ROS_DOMAIN_ID"]])
    assert code == 0
    (ros,) = [r for r in json.loads((tmp_path / "report.json").read_text())["rows"] if r["section"] == "ros"]
    assert "a process per node" in ros["what"]
    _assert_the_arm_was_commanded(ros)
    left = subprocess.run(["pgrep", "-f", "jepa_mpc.ros_nodes.(sim_bridge|mpc_node|safety_filter_node)"],
                          capture_output=True, text=True)
    assert left.stdout == "", f"node processes left running: {left.stdout}"

@pytest.mark.slow
def test_skip_ros_runs_with_rclpy_blocked(tmp_path):
    out = _bench_without_rclpy("--quick", "--skip-ros", "--skip-train", "--device", "cpu", "--threads", "1",
                               "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["sections"] == ["planner", "encoder"]
    assert report["env"]["rclpy"]  # the version comes from package metadata, not an import
    refused = _bench_without_rclpy("--quick", "--device", "cpu")
    assert refused.returncode != 0 and "pass --skip-ros" in refused.stderr
    assert "bench [1/" not in refused.stderr, "refused before measuring anything"


@pytest.mark.parametrize(("argv", "message"), [
    (["--threads", "0"], "must be > 0"),
    (["--device", "gpu"], "expected auto, cpu, cuda or cuda:N"),
    (["--ros-seconds", "-1"], "must be > 0"),
    (["--ros-domain-id", "999"], "0-232"),
    (["--goal", "joint"], "invalid choice"),
])
def test_bad_arguments_exit_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_checkpoint_or_gpu_is_refused_before_measuring(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--checkpoint", str(tmp_path / "nope"), "--device", "cpu"])
    assert "jepa-mpc bench:" in str(exc.value.code) and "not found" in str(exc.value.code)
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit) as exc:
            main(["bench", "--device", "cuda"])
        assert "CUDA is not available" in str(exc.value.code)
    assert "bench [1/" not in capsys.readouterr().err, "nothing may be measured on bad input"
