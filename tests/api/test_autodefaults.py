"""Defaults chosen from the data: size from the images' own sizes (aspect kept, bounded for the
CPU, never upscaled), backbone and widths from the number of images and classes, batch and lr
from the pixels of a step; what the user gave is never replaced; each choice printed and kept
in run.json."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

from regionlab.api import autodefaults as A
from regionlab.api.autodefaults import DataSummary, choose

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
from fixtures import write_image, write_index_png  # noqa: E402

SEG_RECIPE = {"batch_size": 8, "lr": 2e-3}  # segment on photos
LOC_RECIPE = {"batch_size": 16, "lr": 2e-3}


def _summary(h: int, w: int, count: int, classes: int) -> DataSummary:
    return DataSummary(((h, w),) * min(count, 8), count, classes)


def test_twelve_128px_tiles_keep_their_size_and_get_the_small_backbone():
    d = choose("segment", _summary(128, 128, 12, 2), {}, SEG_RECIPE)
    assert d.options["size"] == (128, 128)
    assert d.options["backbone"] == "small"
    assert d.options["widths"] == [16, 32, 64, 128, 256]  # one stage per halving to 4 px
    assert "12 images" in d.reasons["backbone"]
    # a batch of at most half the images, the lr scaled down with it
    assert d.config["batch_size"] == 4
    assert d.config["lr"] == pytest.approx(2e-3 * (4 / 8) ** 0.5, rel=1e-2)
    assert d.options["colour"] == 0.3 and "12 images" in d.reasons["colour"]  # few photos


def test_a_camvid_like_set_keeps_its_aspect_and_the_measured_recipe():
    d = choose("segment", _summary(720, 960, 150, 11), {}, SEG_RECIPE)
    assert d.options["size"] == (240, 320)  # 3:4 kept, longest side 320
    assert d.options["backbone"] == "mobilenet_v3_large"
    assert "widths" not in d.options  # the small CNN's widths mean nothing to mobilenet
    assert d.config == {"batch_size": 8, "lr": 2e-3}
    assert d.options["colour"] == 0.0  # no colour jitter from 100 images
    assert (
        choose("segment", _summary(128, 128, 12, 2), {"colour": 0.0}, SEG_RECIPE).options.get(
            "colour"
        )
        is None
    )  # what the user gave is kept


def test_huge_images_are_bounded_and_tiny_ones_never_upscaled():
    big = choose("segment", _summary(4000, 6000, 50, 3), {}, SEG_RECIPE).options["size"]
    assert max(big) <= 320 and big[0] * big[1] <= 240 * 320 * 1.1
    assert big[1] / big[0] == pytest.approx(1.5, rel=0.1)
    assert all(side % A.STRIDE == 0 for side in big)
    tiny = choose("segment", _summary(40, 56, 30, 2), {}, SEG_RECIPE).options["size"]
    assert tiny == (32, 48)  # multiples of 16, never above the originals
    odd = choose("localize", _summary(10, 12, 30, 1), {}, LOC_RECIPE).options["size"]
    assert odd == (10, 12)  # below one stride: the images' own size


def test_the_median_image_decides_not_one_outlier():
    s = DataSummary(((100, 100), (100, 100), (3000, 3000)), 3, 2)
    assert choose("segment", s, {}, SEG_RECIPE).options["size"] == (96, 96)


def test_what_the_user_gave_is_never_replaced():
    given = {"size": (64, 64), "backbone": "small", "batch_size": 2, "lr": 0.1}
    d = choose("segment", _summary(128, 128, 12, 2), given, SEG_RECIPE)
    assert set(d.options) == {"widths", "colour"} and d.config == {}  # colour was not given
    assert d.options["widths"] == [16, 32, 64, 128]  # for the size the user gave
    d = choose("segment", _summary(720, 960, 150, 11), {"batch_size": 4}, SEG_RECIPE)
    assert "batch_size" not in d.config and "lr" not in d.config  # lr goes with the batch
    d = choose("segment", _summary(128, 128, 12, 2), {"backbone": "resnet18"}, SEG_RECIPE)
    assert "widths" not in d.options and "backbone" not in d.options


def test_localization_is_bounded_by_its_own_budget_and_keeps_the_aspect():
    d = choose("localize", _summary(375, 500, 160, 1), {"backbone": "small"}, LOC_RECIPE)
    h, w = d.options["size"]
    assert max(h, w) <= 160 and w > h
    assert "backbone" not in d.options  # localize keeps its measured small CNN
    assert 2 <= d.config["batch_size"] <= 16


def test_more_data_widens_the_first_stage():
    narrow = choose("segment", _summary(64, 64, 40, 2), {}, SEG_RECIPE).options["widths"]
    wide = choose("segment", _summary(64, 64, 40, 30), {}, SEG_RECIPE).options["widths"]
    assert narrow[0] == 16 and wide[0] == 32


def test_every_choice_has_a_printed_line_and_a_record():
    d = choose("segment", _summary(128, 128, 12, 2), {}, SEG_RECIPE)
    text = "\n".join(A.lines(d))
    assert "size 128x128 from the data" in text
    assert "backbone small from the data: 12 images" in text
    assert "batch 4 from the data" in text
    rec = d.to_record()
    assert rec["size"]["value"] == [128, 128] and rec["backbone"]["value"] == "small"
    json.dumps(rec)  # plain values only


def _tiles(root: Path, n: int, h: int, w: int) -> Path:
    lines = []
    for i in range(n):
        write_image(root / f"im{i}.png", h, w, seed=i)
        sem = np.zeros((h, w), dtype=np.uint8)
        sem[: h // 2] = 1
        write_index_png(root / f"m{i}.png", sem)
        lines.append(f"im{i}.png m{i}.png")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root / "list.txt"


def test_sizes_come_from_headers_through_held_out_subsets(tmp_path):
    import torch

    from regionlab.api.specs import open_dataset

    ds = open_dataset(f"masks:{_tiles(tmp_path, 6, 24, 40)}:num_classes=2", split="train")
    sub = torch.utils.data.Subset(ds, [1, 3, 5])
    sizes = A.image_sizes(sub)
    assert sizes == [(24, 40)] * 3
    s = A.summarize(sub)
    assert (s.count, s.classes, s.median()) == (3, 2, (24, 40))
    assert len(A.image_sizes(ds, limit=4)) == 4  # a bounded sample of big sets


def test_config_file_keys_count_as_given(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"batch_size": 3}))
    given = A.given_values(Namespace(size=None, widths=None, batch_size=None, lr=None,
                                     backbone="auto", config=str(cfg)))  # fmt: skip
    assert given == {"batch_size": 3}


def test_train_segment_prints_the_choices_and_records_them(tmp_path, capsys):
    from regionlab.cli.main import main

    data = f"masks:{_tiles(tmp_path / 'tiles', 6, 32, 48)}:num_classes=2"
    out = tmp_path / "run"
    args = ["train", "segment", "--data", data, "--val", data, "--steps", "1", "--threads", "1"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "size 32x48 from the data: median image 32x48" in printed
    assert "backbone small from the data: 6 images" in printed
    record = json.loads((out / "run.json").read_text())
    assert record["defaults"]["size"]["value"] == [32, 48]
    assert record["flags"]["size"] is None  # what the user gave: nothing
    assert record["spec"]["size"] == [32, 48] and record["spec"]["backbone"] == "small"
