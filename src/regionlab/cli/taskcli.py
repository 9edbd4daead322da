"""What the command line knows of one task family: a :class:`TaskCLI`.

This module imports nothing from ``regionlab.cli``, so every task's CLI module can import it
and :mod:`regionlab.cli.tasks` can import every task's CLI module without an import cycle.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from regionlab.api.prepare import base_dataset as base_dataset  # the API owns it


@dataclass(frozen=True)
class Option:
    """A flag of ``eval`` or ``predict`` that only some task families take, e.g. a caption
    checkpoint's ``--beam``. ``eval`` and ``predict`` learn which checkpoint they hold only
    after parsing, so each such flag is declared once for every family that takes it; given
    with a checkpoint of another family it is an error, and a ``required`` one must be given
    with a checkpoint of its family. Its value is ``None`` when not given."""

    flag: str  # "--beam"
    help: str
    type: Callable[[str], object] = str
    metavar: str | None = None
    required: bool = False

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class TaskCLI:
    """Everything ``train``, ``tune``, ``eval`` and ``predict`` need of one task family: its
    flags, how to build its task from the flags and the training set, how to rebuild it from a
    checkpoint, and its training recipe (its builder and recipe are the Python API's,
    :mod:`regionlab.api.builders`; its predictions are :mod:`regionlab.api.families`)."""

    name: str  # on the command line and in checkpoints
    help: str
    add_flags: Callable[[argparse.ArgumentParser], None]
    build: Callable[[argparse.Namespace, object], object]  # (flags, training set) -> Task
    task_class: Callable[[], type]  # imported lazily: from_spec_dict, check_sample
    recipe: dict = field(default_factory=dict)  # TrainConfig defaults of this task
    photo_recipe: dict = field(default_factory=dict)  # over ``recipe`` on real photos
    # over both for one ``--model`` (e.g. a detector that trains better on smaller batches)
    model_recipes: dict = field(default_factory=dict)
    tunable: bool = False  # has a loss weight for `tune loss-weight`
    description: str = ""
    eval_options: tuple[Option, ...] = ()
    # passed to the predictor by name (regionlab.api.families: e.g. align's text)
    predict_options: tuple[Option, ...] = ()
    # (task, eval options) -> None, before evaluation: e.g. set a caption task's beam width
    before_eval: Callable[[object, dict], None] | None = None
    # (task, model, dataset, eval options) -> None, after evaluation: e.g. write results files
    after_eval: Callable[[object, object, object, dict], None] | None = None

    def recipe_for(self, train_set, model: str | None = None) -> dict:
        """The recipe for this training set and ``--model``: ``photo_recipe`` applies to every
        reader but the built-in scenes, then ``model_recipes[model]``."""
        generated = getattr(base_dataset(train_set), "generated", False)
        recipe = self.recipe if generated else {**self.recipe, **self.photo_recipe}
        return {**recipe, **self.model_recipes.get(model, {})}


def add_options(p: argparse.ArgumentParser, tasks: Iterable[TaskCLI], kind: str) -> None:
    """Declare every task's ``kind`` options (``"eval"`` or ``"predict"``) on ``p``, each
    once, its help naming the families that take it."""
    owners: dict[str, tuple[Option, list[str]]] = {}
    for cli in tasks:
        for o in getattr(cli, f"{kind}_options"):
            owners.setdefault(o.flag, (o, []))[1].append(cli.name)
    for flag, (o, names) in owners.items():
        p.add_argument(flag, type=o.type, metavar=o.metavar,
                       help=f"{' and '.join(names)} checkpoints: {o.help}")  # fmt: skip


def option_values(args, cli: TaskCLI, tasks: Iterable[TaskCLI], kind: str, what: str) -> dict:
    """``cli``'s ``kind`` options as given in ``args``, by ``dest``. An option of another
    family given, or a required one left out, is an error naming ``what`` (the checkpoint)."""
    mine = {o.dest: o for o in getattr(cli, f"{kind}_options")}
    for other in tasks:
        for o in getattr(other, f"{kind}_options"):
            if o.dest not in mine and getattr(args, o.dest, None) is not None:
                takers = [c.name for c in tasks
                          if any(x.flag == o.flag for x in getattr(c, f"{kind}_options"))]  # fmt: skip
                raise ValueError(
                    f"{o.flag} is for {' and '.join(takers)} checkpoints; {what} is a "
                    f"checkpoint of {cli.name}"
                )
    for o in mine.values():
        if o.required and getattr(args, o.dest, None) is None:
            raise ValueError(f"{what} is a checkpoint of {cli.name}: give {o.flag} ({o.help})")
    return {dest: getattr(args, dest, None) for dest in mine}
