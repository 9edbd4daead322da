"""Peers are checked before anything trains: unknown names, the wrong task and a missing
bench extra are errors in our words."""

from __future__ import annotations

import pytest

from regionlab.comparison import peers


def test_a_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setattr(peers, "installed", lambda module: False)
    with pytest.raises(
        ImportError, match=r'ultralytics, from the bench extra: pip install -e "\.\[bench\]"'
    ):
        peers.check_peers(["yolo26n"], "detect")


def test_an_installed_peer_is_not_silently_dropped(monkeypatch):
    monkeypatch.setattr(peers, "installed", lambda module: True)
    with pytest.raises(ValueError, match="not implemented yet"):
        peers.check_peers(["yolov8n"], "detect")
    assert peers.check_peers([], "detect") == []
