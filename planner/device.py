"""Turn a config device string (auto | cpu | cuda | cuda:N) into a torch.device; never assumes cuda:0."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """auto picks cuda when available, else cpu. Asking for cuda without a GPU raises a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {name!r} requested but torch sees no CUDA GPU; use device='auto' or 'cpu'"
        )
    return device


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (a host sync); a no-op on cpu."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
