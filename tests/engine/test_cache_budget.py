"""The sample cache's budget holds per run, whatever the loader: the training loader's workers
persist for the run and each holds its own cache, so each gets an equal share of the budget
and memory does not grow with ``--num-workers``; an evaluation's workers live for one pass,
so the validation cache is off with workers."""

import pytest

from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
from regionlab.engine.config import TrainConfig
from regionlab.engine.run import Run
from regionlab.models.segmentation.builders import SegmentationSpec
from regionlab.tasks.segmentation import SegmentationTask


@pytest.mark.parametrize(("workers", "train_mb", "val_mb"), [(0, 8, 2), (2, 4, 0)])
def test_cache_budget_is_shared_by_the_loader_workers(tmp_path, workers, train_mb, val_mb):
    cfg = TrainConfig(epochs=1, batch_size=4, progress=False, threads=1, cache_mb=8,
                      num_workers=workers)  # fmt: skip
    task = SegmentationTask(SegmentationSpec(4, widths=[8, 16]), (32, 32), CLASSES)
    data = SceneDataset(8, config=SceneConfig(size=32, max_objects=2))
    val = SceneDataset(4, split="val", config=SceneConfig(size=32, max_objects=2))
    run = Run(task, data, val, cfg, tmp_path, lambda *_: None, save=False)
    assert run.data.dataset.budget == train_mb * 2**20  # Augmented(SampleCache(train set))
    assert run.val_set.budget == val_mb * 2**20  # validation: a quarter
