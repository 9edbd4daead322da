"""One table of the tasks the command line knows, each described by its own small module.

A :class:`TaskCLI` says everything ``train``, ``tune``, ``eval`` and ``predict`` need: the
task's flags, how to build its task from the flags and the training set, how to rebuild it
from a checkpoint, how to draw a prediction, and its training recipe. Adding a task family is
one module plus one line in :data:`TASKS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TaskCLI:
    name: str  # on the command line and in checkpoints
    help: str
    add_flags: Callable[[argparse.ArgumentParser], None]
    build: Callable[[argparse.Namespace, object], object]  # (flags, training set) -> Task
    task_class: Callable[[], type]  # imported lazily: from_spec_dict, check_sample
    draw: Callable[[object, object, object], object]  # (task, model, uint8 image) -> PIL image
    recipe: dict = field(default_factory=dict)  # TrainConfig defaults of this task
    photo_recipe: dict = field(default_factory=dict)  # over ``recipe`` on real photos
    # over both for one ``--model`` (e.g. a detector that trains better on smaller batches)
    model_recipes: dict = field(default_factory=dict)

    def recipe_for(self, train_set, model: str | None = None) -> dict:
        """The recipe for this training set and ``--model``: ``photo_recipe`` applies to every
        reader but the built-in scenes, then ``model_recipes[model]``."""
        from regionlab.cli.common import base_dataset

        generated = getattr(base_dataset(train_set), "generated", False)
        recipe = self.recipe if generated else {**self.recipe, **self.photo_recipe}
        return {**recipe, **self.model_recipes.get(model, {})}

    tunable: bool = False  # has a loss weight for `tune loss-weight`
    description: str = ""
    # (task, model, uint8 image, image id) -> JSON records of the prediction (predict writes
    # them to predictions.json), e.g. COCO results entries
    records: Callable | None = None
    # (task, model, dataset, path) -> number of records: `eval --save-json PATH`
    export: Callable | None = None
    # draw / records take a sentence, ``predict --text`` (alignment)
    reads_text: bool = False


def _tasks() -> dict[str, TaskCLI]:
    from regionlab.cli import align, caption, detect, instance, keypoints, localize, segment

    return {
        t.name: t
        for t in (
            segment.CLI,
            localize.CLI,
            keypoints.CLI,
            detect.CLI,
            instance.CLI,
            caption.CLI,
            align.CLI,
        )
    }


TASKS: dict[str, TaskCLI] = _tasks()
