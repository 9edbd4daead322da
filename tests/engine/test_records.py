"""run.json: written before the first step with what started the run; a resume appends to it;
another run's folder is never taken over."""

import json
import sys

import pytest

from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
from regionlab.engine.config import TrainConfig
from regionlab.engine.records import command_line
from regionlab.engine.trainer import fit
from regionlab.models.segmentation.builders import SegmentationSpec
from regionlab.tasks.segmentation import SegmentationTask

CFG = SceneConfig(size=32, max_objects=2)
QUIET = dict(log=lambda *_: None)


def _task():
    return SegmentationTask(SegmentationSpec(4, widths=[8, 16]), (32, 32), CLASSES, scale=(1, 1))


def _data():
    return SceneDataset(8, config=CFG), SceneDataset(4, split="val", config=CFG)


def _cfg(**kw):
    base = dict(epochs=1, batch_size=4, eval_batch_size=4, progress=False, threads=1)
    return TrainConfig(**{**base, **kw})


class Watch:
    """Wraps a task: keeps ``run.json`` as it was when the first step began; can crash at a
    given step, like a killed process."""

    def __init__(self, task, folder, crash_at=None):
        self.task, self.folder, self.crash_at, self.n, self.seen = task, folder, crash_at, 0, None

    def __getattr__(self, k):
        return getattr(self.task, k)

    def step(self, model, batch, device):
        self.n += 1
        if self.seen is None:
            self.seen = json.loads((self.folder / "run.json").read_text())
        if self.n == self.crash_at:
            raise KeyboardInterrupt("killed")
        return self.task.step(model, batch, device)


def test_run_json_is_written_before_the_first_step_with_what_started_the_run(tmp_path):
    tr, va = _data()
    task = Watch(_task(), tmp_path)
    flags = {"data": "scenes:size=32,n=8", "out": tmp_path, "func": print, "size": (32, 32)}
    fit(task, tr, va, _cfg(), tmp_path, record={"flags": flags}, **QUIET)
    before = task.seen
    assert before["task"] == "segment" and before["classes"] == list(CLASSES)
    assert before["spec"] == json.loads(json.dumps(_task().spec_dict()))
    assert before["config"] == _cfg().to_dict()
    assert before["command"] == command_line(sys.argv)
    # paths and tuples as plain JSON values; a callable (argparse's func) is left out
    assert before["flags"] == {"data": "scenes:size=32,n=8", "out": str(tmp_path), "size": [32, 32]}
    assert before["samples"] == {"train": 8, "val": 4} and before["at_step"] == 0
    assert before["runtime"]["device"] == "cpu" and before["runtime"]["threads"] == 1
    assert before["runtime"]["world"] == 1
    assert set(before["versions"]) >= {"regionlab", "torch", "torchvision", "python"}
    assert before["git"] is None or len(before["git"]["commit"]) == 40
    params = sum(p.numel() for p in _task().build_model().parameters())
    assert before["model"]["parameters"] == params
    assert before["model"]["flops_per_image"] is None  # counted during the first step
    assert before["resumes"] == []
    after = json.loads((tmp_path / "run.json").read_text())
    assert after["model"]["flops_per_image"] > 0 and after["model"]["input"] == [3, 32, 32]
    assert after["model"]["gflops_per_image"] > 0
    assert {k: v for k, v in after.items() if k != "model"} == {
        k: v for k, v in before.items() if k != "model"
    }


def test_the_model_summary_is_printed_once(tmp_path):
    lines = []
    tr, va = _data()
    fit(_task(), tr, va, _cfg(epochs=2), tmp_path, log=lines.append)
    summary = [x for x in lines if x.startswith("model: ")]
    assert len(summary) == 1 and "parameters" in summary[0] and "GFLOPs per image" in summary[0]


def test_a_resume_keeps_the_record_and_appends_its_own(tmp_path):
    tr, va = _data()
    cfg = _cfg(epochs=2, checkpoint_every=1)
    with pytest.raises(KeyboardInterrupt):
        fit(
            Watch(_task(), tmp_path, crash_at=3),
            tr,
            va,
            cfg,
            tmp_path,
            record={"flags": 1},
            **QUIET,
        )
    first = json.loads((tmp_path / "run.json").read_text())
    fit(_task(), tr, va, cfg, tmp_path, resume=True, record={"flags": 2}, **QUIET)
    rec = json.loads((tmp_path / "run.json").read_text())
    assert {k: v for k, v in rec.items() if k != "resumes"} == {
        k: v for k, v in first.items() if k != "resumes"
    }
    assert rec["flags"] == 1 and rec["at_step"] == 0
    (again,) = rec["resumes"]
    assert again["flags"] == 2 and again["at_step"] == 2
    assert again["model"]["flops_per_image"] == first["model"]["flops_per_image"]


def test_another_runs_folder_is_not_taken_over(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    tr, va = _data()
    with pytest.raises(FileExistsError, match="run.json exists"):
        fit(_task(), tr, va, _cfg(), tmp_path, **QUIET)
    assert not (tmp_path / "metrics.jsonl").exists()


def test_a_record_that_would_hide_what_ran_is_refused_before_anything_is_written(tmp_path):
    tr, va = _data()
    with pytest.raises(ValueError, match="config are written by the engine"):
        fit(_task(), tr, va, _cfg(), tmp_path / "run", record={"config": {}}, **QUIET)
    assert not (tmp_path / "run").exists()


def test_resuming_next_to_an_unreadable_record_names_it(tmp_path):
    tr, va = _data()
    fit(_task(), tr, va, _cfg(), tmp_path, **QUIET)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"run.json: unreadable run record"):
        fit(_task(), tr, va, _cfg(epochs=2), tmp_path, resume=True, **QUIET)


def test_the_command_line_is_the_one_typed():
    assert command_line(["/usr/bin/regionlab", "train", "a b"]) == "/usr/bin/regionlab train 'a b'"
    main = "/site-packages/regionlab/__main__.py"
    assert command_line([main, "train"]) == "python -m regionlab train"
