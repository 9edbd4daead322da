"""What a new user hits first: start-up, help, bad files found before training, clear messages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from regionlab.cli.main import main

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
from fixtures import coco_data, make_coco, voc_xml  # noqa: E402

TINY = ["--widths", "8,16", "--batch-size", "2", "--threads", "1", "--epochs", "1"]


def _jpeg(path: Path, h: int, w: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, quality=90)


def _voc(root: Path, n: int = 6, truncated: tuple[str, ...] = ()) -> Path:
    """``n`` 32x32 JPEGs with one cat each; the named ones lose their last 20 bytes."""
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        name = f"im{i}"
        _jpeg(root / "JPEGImages" / f"{name}.jpg", 32, 32, i)
        xml = voc_xml(f"{name}.jpg", (32, 32), [("cat", 4, 4, 20 + i, 24)])
        (root / "Annotations" / f"{name}.xml").write_text(xml)
    for name in truncated:
        f = root / "JPEGImages" / f"{name}.jpg"
        f.write_bytes(f.read_bytes()[:-20])
    return root


# ---------------------------------------------------------------------------- start-up and help


def test_help_does_not_import_torch():
    code = (
        "import sys\nfrom regionlab.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("NO-TORCH"), out.stdout[-300:]
    assert "usage: regionlab" in out.stdout


def test_argument_errors_do_not_import_torch():
    code = (
        "import sys\nfrom regionlab.cli.main import main\n"
        "try:\n    main(['train', 'segment', '--epochs', 'x'])\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "NO-TORCH" and "invalid int value" in out.stderr


def test_version_and_defaults_in_help(capsys):
    from regionlab import __version__

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"regionlab {__version__}"
    with pytest.raises(SystemExit):
        main(["train", "segment", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in (
        "--upsampler {nearest,bed_of_nails,max_unpool,transposed,bilinear} decoder upsampler "
        "(default: transposed)",
        "(default: median_freq)",
        "passes over the training set",
        "samples per optimisation step",
        "peak learning rate",
        "fraction of --data held out for validation",
        "(default: 16 on built-in scenes, 8 on photos)",  # the task's batch size
    ):
        assert phrase in text, phrase
    # Each default once, and never a meaningless "None".
    assert "(default: None)" not in text
    assert not re.search(r"\(default: [^)]*\) \(default:", text)


# ---------------------------------------------------------------------------- bad files


def test_truncated_image_stops_training_before_the_first_step(tmp_path, capsys):
    root = _voc(tmp_path / "voc", truncated=("im2", "im4"))
    run = tmp_path / "run"
    code = main(["train", "localize", "--data", f"voc:{root}", "--out", str(run), *TINY])
    err = capsys.readouterr().err
    assert code == 2
    assert "2 of 6 sample(s) are unusable" in err
    assert "im2.jpg" in err and "im4.jpg" in err and "truncated" in err
    assert "skip_bad=true" in err
    assert not (run / "metrics.jsonl").exists()


def test_skip_bad_leaves_out_undecodable_images_and_lists_them(tmp_path, capsys):
    root = _voc(tmp_path / "voc", n=8, truncated=("im3",))
    run = tmp_path / "run"
    spec = f"voc:{root}:skip_bad=true"
    args = ["train", "localize", "--data", spec, "--val", f"voc:{root}:skip_bad=true"]
    assert main([*args, "--out", str(run), *TINY]) == 0
    out = capsys.readouterr().out
    assert "--data: skipped 1 bad sample(s) of 8:" in out and "im3.jpg" in out
    assert "--val: skipped 1 bad sample(s) of 8:" in out


def test_data_check_lists_every_problem_at_once(tmp_path, capsys):
    root = _voc(tmp_path / "voc", truncated=("im1", "im5"))
    # a third problem, found by the reader itself: a box outside the image
    (root / "Annotations" / "im3.xml").write_text(
        voc_xml("im3.jpg", (32, 32), [("cat", 4, 4, 90, 24)])
    )
    assert main(["data", "check", f"voc:{root}"]) == 1
    out = capsys.readouterr().out
    assert "3 problem(s) in 6 samples" in out
    assert out.count("\n  - ") == 3
    assert "im1.jpg" in out and "im5.jpg" in out and "im3.xml" in out
    clean = _voc(tmp_path / "clean")
    assert main(["data", "check", f"voc:{clean}", "--task", "localize"]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_a_task_requirement_fails_before_training(tmp_path, capsys):
    # localization needs an object in every image: image im1 has none
    root = _voc(tmp_path / "voc", n=4)
    (root / "Annotations" / "im1.xml").write_text(voc_xml("im1.jpg", (32, 32), []))
    run = tmp_path / "run"
    assert main(["train", "localize", "--data", f"voc:{root}", "--out", str(run), *TINY]) == 2
    err = capsys.readouterr().err
    assert "im1.jpg" in err and "has no (non-crowd) object" in err
    assert not run.exists() or not (run / "metrics.jsonl").exists()


def test_an_empty_dataset_is_an_error_naming_the_file(tmp_path, capsys):
    data = coco_data()
    data["images"], data["annotations"] = [], []
    ann, images, _ = make_coco(tmp_path, data)
    assert main(["data", "show", f"coco:{ann}:{images}", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(ann) in err and "0 samples" in err


def test_coco_box_errors_quote_the_field_as_written(tmp_path, capsys):
    data = coco_data()
    data["annotations"][0]["bbox"] = [30, 5, -20, 20]
    ann, images, _ = make_coco(tmp_path, data)
    assert main(["data", "show", f"coco:{ann}:{images}", "--out", str(tmp_path / "o")]) == 2
    assert "bbox [30, 5, -20, 20]" in capsys.readouterr().err


def test_mask_folder_without_classes_says_how_to_fix_it(tmp_path, capsys):
    lst = tmp_path / "list.txt"
    lst.write_text("")
    assert main(["data", "show", f"masks:{lst}", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"masks:{lst}" in err and ":num_classes=N" in err


def test_symlink_outside_the_root_names_the_option(tmp_path, capsys):
    outside = tmp_path / "elsewhere.jpg"
    _jpeg(outside, 32, 32, 0)
    root = _voc(tmp_path / "voc", n=1)
    (root / "JPEGImages" / "im0.jpg").unlink()
    (root / "JPEGImages" / "im0.jpg").symlink_to(outside)
    assert main(["data", "show", f"voc:{root}", "--out", str(tmp_path / "o")]) == 2
    assert "allow_outside_root=true" in capsys.readouterr().err
    assert (
        main(["data", "show", f"voc:{root}:allow_outside_root=true", "--out", str(tmp_path / "o")])
        == 0
    )


def test_a_checkpoint_that_carries_code_is_refused_in_our_words(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    torch.save({"format": 1, "task": "segment", "x": Path("/tmp")}, bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torch warning with a site-packages path either
        assert main(["eval", str(bad), "--data", "scenes:size=32,n=2"]) == 2
    err = capsys.readouterr().err
    assert "not a regionlab checkpoint" in err and "carries Python objects or code" in err
    assert "weights_only=False" not in err and "site-packages" not in err


# ---------------------------------------------------------------------------- growth, checkpoints


def test_growth_schedule_is_checked_against_the_model_before_training(tmp_path, capsys):
    run = tmp_path / "run"
    base = ["train", "segment", "--data", "scenes:size=32,n=4", "--val", "scenes:size=32,n=2"]
    base += ["--out", str(run), "--widths", "8,16", "--batch-size", "2", "--threads", "1"]
    assert main([*base, "--epochs", "3", "--grow", "epoch=2:wider(encoder.stagez.1,2x)"]) == 2
    err = capsys.readouterr().err
    assert "encoder.stagez.1" in err and "cannot be applied" in err
    assert not (run / "metrics.jsonl").exists()
    assert main([*base, "--epochs", "3", "--grow", "epoch=3:wider(encoder.stages.1,2x)"]) == 2
    assert "would never run: the run has 3 epochs" in capsys.readouterr().err


def test_growth_rows_count_parameters_after_each_step(tmp_path):
    from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
    from regionlab.engine.config import TrainConfig
    from regionlab.engine.trainer import fit
    from regionlab.models.segmentation.builders import SegmentationSpec
    from regionlab.tasks.segmentation import SegmentationTask

    cfg_s = SceneConfig(size=32)
    task = SegmentationTask(SegmentationSpec(4, widths=[8, 16]), (32, 32), CLASSES, (1.0, 1.0))
    grow = "epoch=1:wider(encoder.stages.0,2x); epoch=1:deeper(encoder.stages.1)"
    cfg = TrainConfig(epochs=2, batch_size=2, progress=False, threads=1, grow=grow)
    fit(task, SceneDataset(4, config=cfg_s), None, cfg, tmp_path, log=lambda *_: None)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    grows = [r for r in rows if r["split"] == "grow"]
    assert [r["event"] for r in grows] == [
        "epoch=1:wider(encoder.stages.0,2x)",
        "epoch=1:deeper(encoder.stages.1)",
    ]
    assert grows[0]["params"] < grows[1]["params"]


def test_growth_not_reached_by_a_timed_run_is_reported(tmp_path):
    from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
    from regionlab.engine.config import TrainConfig
    from regionlab.engine.trainer import fit
    from regionlab.models.segmentation.builders import SegmentationSpec
    from regionlab.tasks.segmentation import SegmentationTask

    task = SegmentationTask(SegmentationSpec(4, widths=[8, 16]), (32, 32), CLASSES, (1.0, 1.0))
    cfg = TrainConfig(
        epochs=None, minutes=0.002, batch_size=2, progress=False, threads=1,
        grow="epoch=50:wider(encoder.stages.0,2x)",
    )  # fmt: skip
    logs = []
    res = fit(
        task, SceneDataset(4, config=SceneConfig(size=32)), None, cfg, tmp_path, log=logs.append
    )
    assert res.growth_not_applied == ["epoch=50:wider(encoder.stages.0,2x)"]
    assert any("were not applied" in m for m in logs)


def test_best_checkpoint_holds_the_model_only_last_holds_the_resume_state(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "segment", "--data", "scenes:size=32,n=4", "--val", "scenes:size=32,n=2"]
    assert main([*args, "--out", str(run), *TINY]) == 0
    from regionlab.engine.checkpoint import load_checkpoint

    best, last = load_checkpoint(run / "best.pt"), load_checkpoint(run / "last.pt")
    assert "optimizer" not in best and "rng" not in best
    assert "optimizer" in last and "rng" in last
    assert (run / "best.pt").stat().st_size < 0.6 * (run / "last.pt").stat().st_size


# ---------------------------------------------------------------------------- torchrun


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_under_torchrun_only_rank_0_writes_and_prints(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "regionlab",
        "train", "segment", "--data", "scenes:size=32,n=8", "--val", "scenes:size=32,n=4",
        "--out", str(run), "--widths", "8,16", "--batch-size", "2", "--threads", "1",
        "--epochs", "2",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("done:") == 1, out.stdout
    assert out.stdout.count("epoch 2:") == 1, out.stdout  # the final evaluation line
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["steps"] == 4
    assert not list(run.glob(".*.tmp"))


def test_segmentation_recipe_takes_batch_8_on_photos_16_on_scenes():
    from torch.utils.data import Subset

    from regionlab.cli.tasks import TASKS
    from regionlab.data.scenes import SceneDataset

    seg = TASKS["segment"]
    assert seg.recipe_for(Subset(SceneDataset(4), [0, 1]))["batch_size"] == 16

    class Photos:
        classes = ["background", "thing"]

    assert seg.recipe_for(Subset(Photos(), [0]))["batch_size"] == 8
    assert TASKS["localize"].recipe_for(Photos()) == TASKS["localize"].recipe
