"""The bench-planner subcommand runs end to end (tiny settings) and writes its JSON; numbers are not
asserted.
"""

from __future__ import annotations

import json

from jepa_mpc.ros_nodes.cli import SUBCOMMANDS, main


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
