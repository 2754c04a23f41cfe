"""The bench-planner subcommand runs end to end (tiny settings) and writes its JSON; numbers are not
asserted.
"""

from __future__ import annotations

import json

from jepa_mpc.apps.cli import SUBCOMMANDS, main


def test_bench_planner_subcommand_writes_json(tmp_path, capsys):
    assert SUBCOMMANDS["bench-planner"][0] == "jepa_mpc.planner.bench"
    out = tmp_path / "bench.json"
    code = main(
        [
            "bench-planner",
            "--quick",
            "--reps",
            "1",
            "--methods",
            "cem,gradient",
            "--grad-steps",
            "2",
            "--device",
            "cpu",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    rows = {(r["method"], r["K"], r["H"], r["iterations"]) for r in report["rows"]}
    assert ("cem", 512, 10, 3) in rows and ("gradient", 4, 8, 2) in rows
    assert all(
        r["p50_ms"] > 0 and r["p99_ms"] >= r["p50_ms"] and r["status"] == "ok" for r in report["rows"]
    )
    assert report["encode"]["p50_ms"] > 0
    assert "<- target" in capsys.readouterr().out


def test_bench_planner_fk_compares_the_generic_robot_with_the_pre_robot_code(tmp_path, capsys, panda):
    out = tmp_path / "fk.json"
    assert main(["bench-planner", "--fk", "--reps", "2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())["fk_guardrails"]
    assert (report["K"], report["H"], report["threads"]) == (512, 20, 1)
    assert [r["points"] for r in report["rows"]] == [5, 5, len(panda.check_points)]
    # Apples to apples: the generic FK of the same 5 points gives the pre-Robot code's points and violations.
    assert report["max_point_diff_m"] < 1e-5 and report["max_violation_diff"] < 1e-4
    assert report["rows"][0]["ratio"] == 1.0 and all(r["p50_ms"] > 0 and r["fk_p50_ms"] > 0 for r in report["rows"])
    assert "goal <= 1.1x" in capsys.readouterr().out


def test_the_pre_robot_baseline_is_only_imported_by_the_benchmark():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    users = {str(p.relative_to(root)) for folder in ("robots", "models", "planner", "sim", "ros_nodes", "apps")
             for p in (root / folder).rglob("*.py") if "bench_baseline_fk" in p.read_text()}
    assert users <= {"planner/bench.py", "planner/bench_baseline_fk.py"}
