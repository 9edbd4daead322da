"""Selective search through OpenCV: box format, determinism (in and across processes), the disk
cache (hits, keys, atomic and concurrent writes) and the ``proposals`` command."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import torch
from torchvision.ops import box_iou

cv2 = pytest.importorskip("cv2")
if not hasattr(cv2, "ximgproc"):
    pytest.skip("needs opencv-contrib (cv2.ximgproc)", allow_module_level=True)

from regionlab.cli.proposals import add_parser  # noqa: E402
from regionlab.ops import proposals as ops  # noqa: E402
from regionlab.ops.proposals import ProposalCache, selective_search  # noqa: E402

cv2.setNumThreads(1)

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _image(size: int = 64, seed: int = 0) -> torch.Tensor:
    """A noisy grey background with a red and a green rectangle: ``uint8 (3, size, size)``."""
    g = torch.Generator().manual_seed(seed)
    img = torch.full((3, size, size), 120, dtype=torch.int32)
    s = size // 8
    img[:, s : 4 * s, s : 5 * s] = torch.tensor([200, 30, 30])[:, None, None]
    img[:, 5 * s : 7 * s, 4 * s : 7 * s] = torch.tensor([30, 190, 40])[:, None, None]
    img += torch.randint(0, 25, img.shape, generator=g)
    return img.clamp(0, 255).to(torch.uint8)


def _check_boxes(boxes: torch.Tensor, h: int, w: int) -> None:
    assert boxes.dtype == torch.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
    assert len(boxes) > 0
    x1, y1, x2, y2 = boxes.unbind(1)
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= w).all() and (y2 <= h).all()
    assert (x1 < x2).all() and (y1 < y2).all()
    assert len(torch.unique(boxes, dim=0)) == len(boxes)  # every box once


def test_boxes_are_xyxy_inside_the_image():
    img = _image(64)[:, :, :56]  # not square: catches a swapped H and W
    boxes = selective_search(img, "fast")
    _check_boxes(boxes, 64, 56)
    assert [0.0, 0.0, 56.0, 64.0] in boxes.tolist()  # the last merge is the whole image
    # x2 = x + w: the red rectangle (rows 8:32, columns 8:40) is found as pixel edges.
    red = torch.tensor([[8.0, 8.0, 40.0, 32.0]])
    assert box_iou(red, boxes).max() > 0.9


def test_repeated_calls_give_the_same_boxes_in_the_same_order():
    img = _image(64)
    for mode in ("fast", "quality"):
        a, b = selective_search(img, mode), selective_search(img, mode)
        assert torch.equal(a, b), mode


def test_unseeded_opencv_order_varies_which_is_why_we_seed():
    """The premise of the seeding: without it the set is stable but the order is not (OpenCV's
    rank uses the C library's rand()). If a future OpenCV became deterministic by itself, this
    test says so and the seeding could go."""
    if ops._SRAND is None:
        pytest.skip("the C library's srand is not reachable here")
    bgr = _image(64).flip(0).permute(1, 2, 0).contiguous().numpy()
    orders = []
    for _ in range(3):
        ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
        ss.setBaseImage(bgr)
        ss.switchToSelectiveSearchFast()
        orders.append(ss.process())
    assert all(sorted(map(tuple, o)) == sorted(map(tuple, orders[0])) for o in orders)
    assert any((o != orders[0]).any() for o in orders[1:])


def test_same_boxes_in_a_fresh_process():
    img = _image(48, seed=3)
    code = (
        "import sys, torch, cv2; cv2.setNumThreads(1)\n"
        "from regionlab.ops.proposals import selective_search\n"
        "img = torch.load(sys.argv[1])\n"
        "torch.save(selective_search(img, 'fast'), sys.argv[2])\n"
    )
    with tempfile.TemporaryDirectory() as d:
        torch.save(img, f"{d}/img.pt")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run(
            [sys.executable, "-c", code, f"{d}/img.pt", f"{d}/out.pt"], check=True, env=env
        )
        other = torch.load(f"{d}/out.pt")
    # Run here after other searches, so the C rand() state has moved on in this process.
    selective_search(_image(48, seed=4), "fast")
    assert torch.equal(selective_search(img, "fast"), other)


def test_max_side_shrinks_and_scales_back():
    img = torch.nn.functional.interpolate(_image(64)[None].float(), size=(96, 128))[0]
    img = img.round().to(torch.uint8)
    boxes = selective_search(img, "fast", max_side=64)
    _check_boxes(boxes, 96, 128)
    assert [0.0, 0.0, 128.0, 96.0] in boxes.tolist()
    # Coordinates are multiples of the 2x scale: the search ran on 48 x 64.
    assert torch.equal(boxes, (boxes / 2).round() * 2)
    # A max_side above the image size changes nothing.
    assert torch.equal(selective_search(img, "fast", 500), selective_search(img, "fast"))


def test_bad_arguments():
    with pytest.raises(ValueError, match="uint8"):
        selective_search(_image(32).float())
    with pytest.raises(ValueError, match="mode"):
        selective_search(_image(32), "slow")
    with pytest.raises(ValueError, match="max_side"):
        selective_search(_image(32), max_side=0)


def test_concurrent_threads_stay_deterministic():
    """OpenCV releases the GIL, and the C rand() state is shared: the lock keeps seed-then-run
    together."""
    img = _image(48)
    want = selective_search(img, "fast")
    got = [None] * 4

    def work(i):
        got[i] = selective_search(img, "fast")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(torch.equal(g, want) for g in got)


# --------------------------------------------------------------------------- cache


@pytest.fixture
def counted(monkeypatch):
    """Counts the searches the cache runs (the real search, on the tiny images)."""
    calls = []
    real = ops.selective_search

    def search(image, mode="fast", max_side=None):
        calls.append((mode, max_side))
        return real(image, mode, max_side)

    monkeypatch.setattr(ops, "selective_search", search)
    return calls


def test_cache_hit_does_not_recompute(tmp_path, counted):
    cache = ProposalCache(tmp_path / "cache")
    img = _image(48)
    first = cache.get(img, "fast")
    second = cache.get(img, "fast")
    assert len(counted) == 1 and (cache.hits, cache.misses) == (1, 1)
    assert torch.equal(first, second) and torch.equal(first, selective_search(img, "fast"))
    # A new cache object on the same folder (a later run) reads the file too.
    again = ProposalCache(tmp_path / "cache")
    boxes, seconds = again.get_timed(img, "fast")
    assert len(counted) == 1 and torch.equal(boxes, first) and seconds > 0


def test_cache_keys_follow_image_and_settings(tmp_path, counted):
    cache = ProposalCache(tmp_path)
    img = _image(48)
    changed = img.clone()
    changed[0, 0, 0] ^= 1  # one bit of one pixel
    keys = {
        cache.key(img, "fast"),
        cache.key(changed, "fast"),
        cache.key(img, "quality"),
        cache.key(img, "fast", 32),
        cache.key(img.reshape(3, 24, 96), "fast"),  # same bytes, another shape
    }
    assert len(keys) == 5
    assert cache.key(img.clone(), "fast") == cache.key(img, "fast")
    cache.get(img, "fast")
    cache.get(changed, "fast")
    cache.get(img, "quality")
    assert len(counted) == 3 and len(list(tmp_path.glob("*.pt"))) == 3


def test_cache_file_is_complete_and_no_temp_files_remain(tmp_path):
    cache = ProposalCache(tmp_path)
    img = _image(48)
    boxes = cache.get(img)
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [cache.path(cache.key(img)).name]
    entry = torch.load(files[0], weights_only=True)
    assert torch.equal(entry["boxes"], boxes) and entry["seconds"] > 0


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def torn_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ops.torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        ProposalCache(tmp_path).get(_image(32))
    assert list(tmp_path.iterdir()) == []


def test_unreadable_file_is_recomputed(tmp_path, counted):
    cache = ProposalCache(tmp_path)
    img = _image(32)
    cache.path(cache.key(img)).write_bytes(b"not a torch file")
    boxes = cache.get(img)
    assert len(counted) == 1 and torch.equal(ProposalCache(tmp_path).get(img), boxes)


def test_concurrent_writers_leave_a_valid_file(tmp_path, monkeypatch):
    """Threads computing the same key at once: each writes its own temp file and renames it,
    so the last rename wins with a whole file and no temp file is left."""
    img = _image(32)
    want = selective_search(img)
    start = threading.Barrier(4)

    def slow_search(image, mode="fast", max_side=None):
        start.wait()  # all four miss the cache, then all four write
        return want.clone()

    monkeypatch.setattr(ops, "selective_search", slow_search)
    caches = [ProposalCache(tmp_path) for _ in range(4)]
    threads = [threading.Thread(target=c.get, args=(img,)) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(c.misses for c in caches) == 4
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".pt"
    assert torch.equal(torch.load(files[0], weights_only=True)["boxes"], want)


def test_concurrent_processes_share_a_cache(tmp_path):
    img = _image(48, seed=5)
    torch.save(img, tmp_path / "img.pt")
    code = (
        "import sys, torch, cv2; cv2.setNumThreads(1)\n"
        "from regionlab.ops.proposals import ProposalCache\n"
        "ProposalCache(sys.argv[2]).get(torch.load(sys.argv[1]), 'fast')\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", code, str(tmp_path / "img.pt"), str(tmp_path / "cache")]
    procs = [subprocess.Popen(cmd, env=env) for _ in range(2)]
    assert [p.wait() for p in procs] == [0, 0]
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1
    boxes = torch.load(files[0], weights_only=True)["boxes"]
    assert torch.equal(boxes, selective_search(img, "fast"))


# --------------------------------------------------------------------------- the command


def _run(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers())
    args = p.parse_args(argv)
    return args.func(args)


def test_cli_eval_and_show_on_scenes(tmp_path, capsys):
    common = ["--data", "scenes:size=64,n=3", "--cache", str(tmp_path / "cache"), "--threads", "1"]
    out = tmp_path / "out"
    assert _run(["proposals", "eval", *common, "--out", str(out)]) == 0
    result = json.loads((out / "proposals.json").read_text())
    assert {
        "recall",
        "mabo",
        "mean_proposals",
        "seconds_per_image",
        "abo_per_class",
        "mabo_class_mean",
        "per_image",
    } <= set(result)
    assert set(result["recall"]) == {"0.5", "0.7"}
    assert set(result["mabo"]) == {"100", "300", "1000", "2000", "all"}
    assert result["images"] == 3 and result["gt_boxes"] > 0
    assert 0 < result["recall"]["0.7"]["all"] <= result["recall"]["0.5"]["all"] <= 1
    assert (out / "recall_vs_proposals.png").stat().st_size > 0
    text = capsys.readouterr().out
    assert "recall@0.5" in text and "MABO" in text
    # Second run: every image from the cache, same numbers.
    assert _run(["proposals", "eval", *common, "--out", str(out)]) == 0
    again = json.loads((out / "proposals.json").read_text())
    assert again["cache"]["hits"] == 3 and again["recall"] == result["recall"]
    assert _run(["proposals", "show", *common, "--top", "10", "--out", str(out)]) == 0
    assert (out / "proposals_0000_top10.png").exists()


def test_cli_refuses_a_bad_index(tmp_path):
    with pytest.raises(ValueError, match="--index"):
        _run(
            [
                "proposals",
                "show",
                "--data",
                "scenes:size=32,n=2",
                "--index",
                "5",
                "--out",
                str(tmp_path),
            ]
        )


@pytest.mark.skipif(
    not (DATASETS / "pennfudan" / "PNGImages").is_dir(),
    reason=f"real photos not found: {DATASETS / 'pennfudan'} is absent",
)
def test_cli_eval_on_pennfudan_photos(tmp_path):
    """Three Penn-Fudan photos, shrunk to 200 px for speed: pedestrians are found."""
    pf = DATASETS / "pennfudan"
    spec = f"instances:{pf / 'PNGImages'}:{pf / 'PedMasks'}"
    argv = ["proposals", "eval", "--data", spec, "--n", "3", "--max-side", "200", "--threads", "1"]
    argv += ["--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]
    assert _run(argv) == 0
    result = json.loads((tmp_path / "out" / "proposals.json").read_text())
    assert result["images"] == 3 and result["gt_boxes"] >= 3
    assert result["recall"]["0.5"]["all"] >= 0.5
