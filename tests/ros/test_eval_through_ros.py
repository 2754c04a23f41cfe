"""`jepa-mpc eval --through-ros` runs the in-process eval's episodes through the deployed graph (sim_bridge, mpc,
safety_filter as processes): the same start and goal (the graph's episode is checked against the in-process one),
the same checks and the same eval.json; a camera the model cannot use ends the run with the node's reason."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("rclpy")
from jepa_mpc.apps.cli import main as cli_main  # noqa: E402

pytestmark = pytest.mark.slow


def _eval(out, *flags) -> dict:
    assert cli_main(["eval", "--policies", "mpc", "--episodes", "1", "--seed", "4", "--workers", "1",
                     "--out", str(out), *flags]) == 0
    return json.loads((out / "eval.json").read_text())


def test_the_same_episode_through_the_graph_and_in_process(tmp_path):
    ros = _eval(tmp_path / "ros", "--through-ros", "--camera-size", "96x64", "--camera-encoding", "jpeg",
                "--camera-fps", "30")
    local = _eval(tmp_path / "local", "--camera-size", "96x64", "--camera-encoding", "jpeg")
    assert ros["through_ros"] and not local["through_ros"]
    (a,), (b,) = ros["episodes"]["mpc"], local["episodes"]["mpc"]
    assert set(a) == set(b) and set(ros["summary"]["mpc"]) >= set(local["summary"]["mpc"])
    assert a["distances"][0] == pytest.approx(b["distances"][0], abs=1e-6), "another start or goal"
    assert ros["summary"]["mpc"]["start_offset_rad_max"] < 1e-3
    assert len(a["distances"]) == len(b["distances"]) == 61
    assert a["plan_ms"], "the graph's plans were timed"
    assert a["violations"] == b["violations"] == 0
    assert a["distances"][-1] < 0.5 * a["distances"][0], "the graph's arm went towards the goal"


def test_a_camera_the_model_cannot_use_ends_the_run_with_the_reason(tmp_path):
    with pytest.raises(SystemExit, match="mono8"):
        _eval(tmp_path / "local", "--camera-size", "96x64", "--camera-encoding", "mono8")
    with pytest.raises(SystemExit, match="plans nothing.*(mono8|colour)"):
        _eval(tmp_path / "ros", "--through-ros", "--camera-size", "96x64", "--camera-encoding", "mono8")


@pytest.mark.parametrize(("sig", "group"), [("SIGINT", True), ("SIGTERM", False)], ids=["ctrl-c", "SIGTERM"])
def test_a_stop_signal_stops_the_graph_and_exits_130_without_a_traceback(tmp_path, sig, group):
    """Ctrl-C in a terminal signals the whole process group; SIGTERM (a service manager) the eval alone."""
    import os
    import signal
    import subprocess

    from tests.ros.test_bringup_shutdown import _cli, _Lines

    proc = subprocess.Popen(_cli("eval", "--through-ros", "--policies", "mpc", "--episodes", "3", "--seed", "4",
                                 "--out", str(tmp_path)), env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = _Lines(proc.stdout)
    try:
        assert lines.wait_for("episode 1/3", timeout_s=120.0), lines.text()[-3000:]
        if group:
            os.killpg(proc.pid, getattr(signal, sig))
        else:
            proc.send_signal(getattr(signal, sig))
        code = proc.wait(timeout=60.0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = lines.text()
    assert code == 130, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert not (tmp_path / "eval.json").exists(), "an interrupted run writes no result"
    left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True)
    assert left.stdout == "", f"node processes left running: {left.stdout}"


def test_the_graph_gets_the_large_frame_profile_unless_another_rmw_or_profile_is_set(monkeypatch):
    """A 640x480 bgr8 frame (921,600 bytes) is over Fast DDS's 512 KB segment: the graph gets the shipped profile,
    whose segment holds it; another RMW or the user's own profile file are left alone."""
    import os
    import pathlib
    import xml.etree.ElementTree as ET

    from jepa_mpc.ros_nodes.ros_eval import large_frame_transport

    for key in ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE", "RMW_IMPLEMENTATION"):
        monkeypatch.delenv(key, raising=False)
    vga = 640 * 480 * 3
    with large_frame_transport():
        profile = pathlib.Path(os.environ["FASTDDS_DEFAULT_PROFILES_FILE"])
        segment = ET.parse(profile).getroot().find(".//{http://www.eprosima.com}segment_size")
        assert int(segment.text) >= 30 * vga, "a second of raw VGA frames fits"
    assert "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ, "restored afterwards"
    monkeypatch.setenv("FASTDDS_DEFAULT_PROFILES_FILE", "/my/profile.xml")
    with large_frame_transport():
        assert os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] == "/my/profile.xml"
    monkeypatch.delenv("FASTDDS_DEFAULT_PROFILES_FILE")
    monkeypatch.setenv("RMW_IMPLEMENTATION", "rmw_cyclonedds_cpp")
    with large_frame_transport():
        assert "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ
