"""SIGKILL a real `jepa-mpc train` process in the middle of writing a checkpoint: the previous checkpoint still
loads (checksum and all), and --resume continues from it to the end. The child is made to stop half-way through
its second checkpoint's bytes, so the kill lands mid-write every time (no timing luck)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from jepa_mpc.apps.cli import main
from jepa_mpc.models.run_state import load_train_state
from jepa_mpc.models.world_model import WorldModel

# The child: the real CLI, with torch.save writing half of its second file, saying so, and then hanging.
CHILD = """
import io, os, pathlib, sys, time
import torch
real_save, calls = torch.save, []
def half_then_hang(obj, f, *args, **kwargs):
    calls.append(1)
    if len(calls) < 2:
        return real_save(obj, f, *args, **kwargs)
    buf = io.BytesIO()
    real_save(obj, buf, *args, **kwargs)
    f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
    f.flush()
    os.fsync(f.fileno())
    pathlib.Path(sys.argv[1]).write_text("mid-write")
    time.sleep(600)
torch.save = half_then_hang
from jepa_mpc.apps.cli import main
sys.exit(main(sys.argv[2:]))
"""

TINY = ["--device", "cpu", "--no-progress", "--batch-size", "16", "--log-every", "5", "--eval-every", "10",
        "--checkpoint-every", "10", "--eval-horizon", "4", "--probe-kind", "linear", "--latent-dim", "8",
        "--encoder-widths", "8", "16", "--predictor-width", "32", "--expander-dim", "32"]


def test_killed_mid_checkpoint_write_keeps_the_previous_one_and_resumes(blob_dataset, tmp_path):
    out, marker = tmp_path / "run", tmp_path / "mid_write"
    cmd = [sys.executable, "-c", CHILD, str(marker), "train", "--data", str(blob_dataset), "--out", str(out),
           "--steps", "30", *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not marker.exists() and proc.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), f"the child never reached its second checkpoint: {proc.stderr.read()[-2000:]}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    state, manifest = load_train_state(out)  # verifies the sha256 the manifest vouches for
    assert state["step"] == manifest["step"] == 10, "the previous checkpoint is the one that survives"
    assert main(["train", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert load_train_state(out)[0]["step"] == 30
    assert WorldModel.from_checkpoint(out, device="cpu").latent_dim == 8
