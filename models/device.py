"""Device selection from a user string ('auto', 'cpu', 'cuda', 'cuda:N'); never a hard-coded 'cuda:0'."""
from __future__ import annotations

import torch


def resolve_device(spec: str | torch.device = "auto", local_rank: int | None = None) -> torch.device:
    """'auto' -> the GPU when there is one, else the CPU; 'cuda' -> GPU `local_rank` (torchrun) or the current one.

    Raises RuntimeError naming the problem when a GPU is asked for and none is usable.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {spec!r} requested but CUDA is not available (torch {torch.__version__}); "
                               "use --device cpu or auto")
        if spec == "cuda":
            index = local_rank if local_rank is not None else torch.cuda.current_device()
        else:
            index = int(spec[5:])
        if index >= torch.cuda.device_count():
            raise RuntimeError(f"device cuda:{index} requested but only {torch.cuda.device_count()} GPU(s) visible")
        return torch.device("cuda", index)
    raise ValueError(f"unknown device {spec!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:N'")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (a host sync for honest stage timings); a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
