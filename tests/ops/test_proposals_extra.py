"""Selective search is the optional ``proposals`` extra: without OpenCV contrib, every entry
point says which extra to install instead of failing on a bare ``import cv2``."""

import sys
import types

import pytest
import torch

from regionlab.ops.proposals import ProposalCache, require_cv2, selective_search

EXTRA = 'pip install "regionlab[proposals]"'
IMAGE = torch.zeros((3, 8, 8), dtype=torch.uint8)


def test_missing_opencv_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` raise ImportError
    for call in (
        lambda: selective_search(IMAGE),
        lambda: ProposalCache(tmp_path).get(IMAGE),
        require_cv2,
    ):
        with pytest.raises(ImportError, match=r"OpenCV contrib.*" + EXTRA.replace("[", r"\[")):
            call()
    assert not list(tmp_path.iterdir())


def test_opencv_without_contrib_names_the_shadowing_build(monkeypatch):
    plain = types.ModuleType("cv2")  # opencv-python: no ximgproc
    plain.__version__ = "4.10.0"
    monkeypatch.setitem(sys.modules, "cv2", plain)
    assert require_cv2() is plain  # enough for cache keys
    with pytest.raises(ImportError, match=r"cv2\.ximgproc.*uninstall -y opencv-python"):
        selective_search(IMAGE)
