"""TensorBoard event files of a run (``TrainConfig.tensorboard``, ``--tensorboard``).

``RUN/tensorboard/`` receives, at the optimisation step they belong to: ``train/loss``,
``train/lr`` and the task's step logs (every logged step, as ``metrics.jsonl``), ``val/<metric>``
for every numeric metric of each evaluation, ``model/parameters`` after growth, and
``predictions/<i>`` images of the first validation images when the task can draw them (an
optional ``task.draw(model, image) -> PIL image``; ``regionlab.train`` gives every task one,
the API's ``Result.plot``). ``tensorboard --logdir RUN`` shows them.

Only rank 0 writes. A resumed run drops the events the interrupted attempt wrote after the step
it resumes from, so the curves continue without a fold.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

# Validation images drawn into TensorBoard at each evaluation (when the task can draw).
PREVIEW_IMAGES = 4

EXTRA_HINT = "pip install 'regionlab[tensorboard]' (or pip install tensorboard)"


def require_tensorboard():
    """``SummaryWriter``, or an ImportError that names the extra to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ImportError(
            f"--tensorboard (TrainConfig.tensorboard) needs the tensorboard package: "
            f"{EXTRA_HINT} ({e})"
        ) from None
    return SummaryWriter


class Board:
    """A ``SummaryWriter`` on ``folder`` that takes the engine's plain dicts."""

    def __init__(self, folder: Path, resume_step: int = 0) -> None:
        """``resume_step``: the step a resumed run starts from (its checkpoint's); events the
        interrupted attempt wrote after it are dropped (those at it match the checkpoint)."""
        writer_class = require_tensorboard()
        purge = resume_step + 1 if resume_step > 0 else None
        self.writer = writer_class(log_dir=str(folder), purge_step=purge)

    def scalars(self, prefix: str, values: dict, step: int) -> None:
        """Every finite number of ``values`` as ``prefix/key`` (booleans, strings, lists are
        left out: TensorBoard scalars are numbers)."""
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def images(self, prefix: str, pictures: list, step: int) -> None:
        """PIL images (or ``uint8 (H, W, 3)`` arrays) as ``prefix/0``, ``prefix/1``, ..."""
        for i, picture in enumerate(pictures):
            array = np.asarray(picture.convert("RGB") if hasattr(picture, "convert") else picture)
            self.writer.add_image(f"{prefix}/{i}", array, step, dataformats="HWC")

    def predictions(self, task, model, val_set, step: int) -> None:
        """The first validation images through the task's optional ``draw(model, image)``.
        Drawing must not change training: the model's mode and random state are restored."""
        from regionlab.engine import runtime

        draw = getattr(task, "draw", None)
        if draw is None or val_set is None:
            return
        rng, was = runtime.rng_state(), model.training
        pictures = []
        try:
            for i in range(min(PREVIEW_IMAGES, len(val_set))):
                image = getattr(val_set[i], "image", None)  # uint8 (3, H, W)
                if image is not None:
                    pictures.append(draw(model, image))
        finally:
            model.train(was)
            runtime.set_rng_state(rng)
        self.images("predictions", pictures, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
