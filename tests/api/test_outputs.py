"""Output names of ``predict``: one per input, never two inputs on one file, even where the
file system ignores case, and an in-memory image never takes a file's name."""

from __future__ import annotations

from types import SimpleNamespace

from regionlab.api.outputs import _Names


def test_names_never_collide_even_without_case():
    names = _Names()
    given = [names.of(SimpleNamespace(path=p), k) for k, p in enumerate(
        ["a/X.jpg", "b/x.jpg", "image_00003.png", None, "a/X.jpg"])]  # fmt: skip
    assert given == ["X", "x_2", "image_00003", "image_00003_2", "X"]  # the same file: its name
    assert len({g.lower() for g in given[:4]}) == 4
