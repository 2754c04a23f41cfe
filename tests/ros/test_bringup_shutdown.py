"""`jepa-mpc bringup sim` stops cleanly on Ctrl-C / SIGTERM while a goal is active: exit status 0 and no traceback.
Before: the mpc planning thread outlived its node and the process aborted (134, "terminate called without an active
exception"); per node, the sim bridge published after Ctrl-C had shut its context down (a traceback), and SIGTERM
killed the parent (-15) and left the node processes running."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("rclpy")

pytestmark = pytest.mark.slow


class _Lines:
    """Collects a stream's lines in a thread, so the test can wait for one without blocking on the pipe."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)

    def wait_for(self, text: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            time.sleep(0.05)
        return False

    def text(self) -> str:
        self._thread.join(timeout=5.0)
        return "".join(self.lines)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from jepa_mpc.apps.cli import main; sys.exit(main(sys.argv[1:]))",
            *args]


# Ctrl-C in a terminal signals the whole process group (bringup and, per node, its children at once); SIGTERM
# goes to bringup alone (a service manager), which then stops each child with SIGINT.
@pytest.mark.parametrize(("processes", "sig", "group"), [("one", signal.SIGINT, True),
                                                         ("per-node", signal.SIGINT, True),
                                                         ("per-node", signal.SIGTERM, False)],
                         ids=["one-ctrl-c", "per-node-ctrl-c", "per-node-SIGTERM"])
def test_bringup_sim_exits_0_without_traceback_when_stopped_with_an_active_goal(processes, sig, group):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_cli("bringup", "sim", "--processes", processes), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    err, out = _Lines(proc.stderr), _Lines(proc.stdout)
    try:
        assert err.wait_for("[safety_filter]", timeout_s=90.0), err.text()[-3000:]
        goal = subprocess.run(_cli("goal", "pose", "0.5", "0.1", "0.4"), env=env, capture_output=True, text=True,
                              timeout=60)
        assert goal.returncode == 0, goal.stderr
        assert err.wait_for("new pose goal", timeout_s=30.0), err.text()[-3000:]
        time.sleep(1.0)  # not a wait for a condition: a second of planning, so the signal lands mid-loop
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        code = proc.wait(timeout=30.0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    stderr = err.text() + out.text()
    assert code == 0, f"exit status {code}:\n{stderr[-3000:]}"
    assert "Traceback" not in stderr, stderr[-3000:]


@pytest.mark.parametrize(("module", "args", "ready"), [
    ("jepa_mpc.ros_nodes.mpc_node", ["--ros-args", "-p", "checkpoint:=none"], "optimizer cem"),
    ("jepa_mpc.ros_nodes.safety_filter_node", [], "7 arm joints"),
])
@pytest.mark.parametrize("gap_s", [0.0, 0.02, 0.2])
def test_a_node_process_exits_0_on_a_double_ctrl_c(module, args, ready, gap_s):
    """A second Ctrl-C (or a launcher's SIGTERM after its SIGINT) while the node cleans up must not interrupt the
    cleanup: exit 0, no traceback, whenever it comes."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = _Lines(proc.stdout)
    try:
        assert lines.wait_for(ready, timeout_s=60.0), lines.text()
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        time.sleep(gap_s)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, lines.text()[-2000:]
        assert "Traceback" not in lines.text(), lines.text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
