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
from jepa_mpc.ros_nodes.bench_report import SECTIONS, join_chains, loop_row, markdown  # noqa: E402
from jepa_mpc.ros_nodes.latency import STAGES  # noqa: E402


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
    assert f"{ros['commands']} commands from plans, {ros['holds']} holds" in ros["note"], ros
    assert sum(ros["holds_by_reason"].values()) == ros["holds"], ros
    assert list(ros["stages"]) == list(STAGES), "every stage of the chain was timed"
    for stage, t in ros["stages"].items():
        assert math.isfinite(t["p50_ms"]) and t["p50_ms"] > -1.0 and t["p99_ms"] >= t["p50_ms"], (stage, t)
        assert t["p50_ms"] <= ros["p99_ms"], (stage, t)


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
    assert "| stage | what it covers | p50 ms | p99 ms |" in md and "\n| plan | " in md
    for section in SECTIONS:
        assert f"\n| {section} | " in md, section
    assert f"torch {torch.__version__}" in md and env["date"] in md
    printed = capsys.readouterr().out
    assert "frame stamp -> arm command" in printed and "windows/s" in printed


MPC_PART = {"receive": 1.0, "decode": 0.5, "wait": 0.5, "encode": 2.0, "plan": 90.0, "publish": 6.0}


def test_each_command_is_joined_to_its_plan_and_frame():
    """Two plans, a filter report from before the window, a hold in between and a plan whose command never came:
    each command from a plan gets its own frame, and its stages add up to frame stamp -> arrival."""
    plans = {10.1: (10.0, MPC_PART), 10.2: (10.1, {**MPC_PART, "plan": 80.0, "publish": 16.0}), 10.3: (10.2, MPC_PART)}
    filtered = [(9.9, 9.905, {"transport": 1.0, "filter": 2.0}),  # its plan came before the window
                (10.1, 10.103, {"transport": 1.0, "filter": 2.0}),
                (10.2, 10.204, {"transport": 2.0, "filter": 2.0}),
                (10.3, 10.303, {"transport": 1.0, "filter": 2.0})]  # its command arrives after the window
    arrivals = [9.906, 10.1035, 10.15, 10.2045]  # 10.15: a hold, from no plan
    chains = join_chains(plans, filtered, arrivals)
    assert [round(total, 6) for total, _ in chains] == [103.5, 104.5]
    for total, stages in chains:
        assert sum(stages.values()) == pytest.approx(total)
    assert chains[1][1]["plan"] == 80.0 and chains[1][1]["command"] == pytest.approx(0.5)

    row = loop_row("frame stamp -> arm command, test", chains, holds={"plan_stale": 1}, plans=3, seconds=0.3)
    assert (row["p50_ms"], row["commands"], row["holds"]) == (pytest.approx(104.0), 2, 1)
    assert "1 holds (plan_stale 1)" in row["note"]
    assert row["stages"]["plan"]["p50_ms"] == 85.0 and row["stages"]["plan"]["p99_ms"] == pytest.approx(89.9)
    assert list(row["stages"]) == list(STAGES)
    md = markdown({"command": "jepa-mpc bench", "rows": [row], "checkpoint": {"path": "x", "weights_sha256": "0" * 64,
                   "proprio_key": "none"}, "env": {"gpu": None, "cpu": "cpu", "cpu_cores": 2, "device": "cpu",
                   "torch_threads": 1, "python": "3", "torch": "2", "mujoco": "3", "numpy": "2", "rclpy": "9",
                   "date": "today", "load_average_start": [0.0]}})
    assert "| plan | the solve: CEM / gradient iterations, costs, guardrails, final check | 85.0 | 89.9 |" in md


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
    (["--ros-param", "parallel_kinematics=false"], "NODE:NAME:=VALUE"),
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
