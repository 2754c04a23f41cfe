"""Shipped checkpoints are found by name from anywhere; a file of that name here wins; anything else is an error
that says what is missing."""
from __future__ import annotations

import pytest

from jepa_mpc.models.shipped import CHECKPOINT_DIR, SHIPPED_CHECKPOINT, resolve_checkpoint


def test_a_shipped_checkpoint_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_checkpoint("panda_reach") == CHECKPOINT_DIR / "panda_reach"
    assert resolve_checkpoint("") == SHIPPED_CHECKPOINT


def test_a_checkpoint_here_wins_over_a_shipped_one_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for suffix in (".safetensors", ".json"):
        (tmp_path / f"panda_reach{suffix}").write_text("{}")
    assert resolve_checkpoint("panda_reach").resolve() == (tmp_path / "panda_reach").resolve()


@pytest.mark.parametrize("name", ["no_such_model", "sub/panda_reach"])
def test_anything_else_is_not_found(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_checkpoint(name)
