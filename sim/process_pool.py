"""Worker processes for evaluation and data collection that die with the process that started them.

A `spawn` ProcessPoolExecutor's workers outlive a parent killed by a signal (Ctrl-C twice, `kill`, a CI timeout)
and keep burning CPU on their current chunk; on Linux each worker asks the kernel for SIGKILL when its parent
exits (prctl PR_SET_PDEATHSIG). Elsewhere this is a no-op.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import functools
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int, initializer: Callable[[], None] | None) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no libc prctl: keep the default behaviour
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)
    if initializer is not None:
        initializer()


def spawn_pool(workers: int, initializer: Callable[[], None] | None = None) -> cf.ProcessPoolExecutor:
    """A `spawn` process pool of `workers` processes that exit when this process dies; `initializer` runs first in
    each worker, after the parent-death signal is set."""
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=functools.partial(_die_with_parent, os.getpid(), initializer))
