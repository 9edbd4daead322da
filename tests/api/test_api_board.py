"""``regionlab.train(..., tensorboard=True)`` previews the first validation images' predictions
in TensorBoard, drawn as ``Result.plot`` draws them, for any family."""

from __future__ import annotations

import pytest

import regionlab

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)


@pytest.mark.parametrize(
    "task, options",
    [
        ("segment", {"widths": [8, 16], "scale": [1, 1]}),
        ("detect", {"model": "sliding-window", "window": 16, "window_sizes": [0.5]}),
    ],
)
def test_training_with_tensorboard_writes_prediction_images(tmp_path, task, options):
    out = tmp_path / task
    regionlab.train(task, data="scenes:size=32,n=4", val="scenes:size=32,n=2", epochs=1,
                    batch_size=2, threads=1, tensorboard=True, out=str(out),
                    **options)  # fmt: skip
    acc = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    assert sorted(acc.Tags()["images"]) == ["predictions/0", "predictions/1"]
    image = acc.Images("predictions/0")[-1]
    assert image.width >= 32 and image.height >= 32
