"""``regionlab.train`` and ``regionlab.evaluate``: runs from user values, the one code path of
the Python API and the ``train`` / ``eval`` commands."""

from __future__ import annotations

import json
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

from regionlab.api.autodefaults import for_run
from regionlab.api.builders import Builder, builder
from regionlab.api.prepare import (
    BUDGET_FLAGS,
    GROWTH_FLAGS,
    check_data,
    classes_of,
    describe_split,
    is_main_process,
    same_classes,
    split,
    train_config,
)
from regionlab.api.specs import has_own_val, open_dataset

# The options of every training run (the task's own are in its Builder's defaults); None
# means "not given": the config file, then the task's recipe, then TrainConfig decide.
RUN_DEFAULTS = {
    "val": None,
    "val_fraction": 0.1,
    "out": None,  # runs/<task>
    "resume": False,
    "data_check": "auto",
    "report": True,  # report.html in out at the end (a failure there only warns)
    "config": None,
    **dict.fromkeys(BUDGET_FLAGS),
    **dict.fromkeys(GROWTH_FLAGS),
}


def train_options(task: str, data: str, **options) -> Namespace:
    """Every option of a ``task`` run: ``options`` over the run's and the task's defaults
    (the names and defaults of ``regionlab train TASK``'s flags, ``--batch-size`` as
    ``batch_size``). An unknown name is an error listing the known ones."""
    b = builder(task)
    known = {**RUN_DEFAULTS, **b.defaults}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"{task}: unknown option(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(known))}")  # fmt: skip
    values = {**known, **options, "data": data}
    if values["out"] is None:
        values["out"] = f"runs/{task}"
    if b.pair_size and isinstance(values.get("size"), int):
        values["size"] = (values["size"], values["size"])
    return Namespace(task=task, **values)


def train(task: str, data: str, *, val: str | None = None, **options) -> dict:
    """Train a ``task`` model (``segment``, ``localize``, ``keypoints``, ``detect``,
    ``instance``, ``caption``, ``align``) on the data spec ``data`` (e.g. ``"scenes"``,
    ``"voc:my_voc"``, ``"coco:ann.json:images"``) and return the run's summary (what
    ``metrics.json`` holds: final and best metrics, steps, seconds, config, spec).

    ``val``: a validation data spec (default: the scenes' own validation stream, else a
    held-out ``val_fraction`` of ``data``). ``options``: the flags of ``regionlab train TASK``
    by their Python names and with the same defaults, e.g. ``epochs=5``, ``minutes=2``,
    ``batch_size=16``, ``lr=2e-3``, ``seed=0``, ``threads=2``, ``out="runs/seg"``,
    ``size=96``, ``model="faster-rcnn"``. Checkpoints ``best.pt`` / ``last.pt`` land in
    ``out``; load one with :func:`regionlab.load`.

    SIGTERM or Ctrl-C (SIGINT) stops the run after its current step with ``last.pt`` written
    and raises :class:`regionlab.engine.errors.Preempted`; ``resume=True`` continues it
    exactly. A file that cannot be written (full disk, read-only folder) raises
    :class:`regionlab.atomic.WriteError` naming it, the previous files left as they were.
    """
    return run_training(builder(task), train_options(task, data, val=val, **options))


def run_training(b: Builder, args: Namespace) -> dict:
    """A run from complete options (:func:`train_options`)."""
    from regionlab.engine.trainer import fit

    train_config(args, b.recipe)  # a bad option or config file fails before data is read
    train_set, val_set = _training_data(args, b)
    # run.json: every option as given or defaulted, and the data specs (plain values only)
    flags = {k: v for k, v in vars(args).items() if not callable(v)}
    args, cfg, task, auto = build_task(b, args, train_set)
    if cfg.tensorboard:  # the engine's preview images: each evaluation's first val images
        from regionlab.api.families import drawer, family

        task.draw = drawer(task, family(b.name))
    out = Path(args.out)
    splits = describe_split(args, train_set, val_set)
    record = {"flags": flags, "data": {"train": args.data, "val": args.val}, "splits": splits}
    if auto.reasons:
        record["defaults"] = auto.to_record()
    result = fit(task, train_set, val_set, cfg, out, resume=args.resume, record=record,
                 remember_steps=True)  # fmt: skip
    summary = summarise(out, result, task, cfg, extra={"splits": splits}, write=result.is_main)
    if getattr(args, "report", True) and result.is_main and is_main_process():
        write_run_report(out)
    return summary


def build_task(b: Builder, args: Namespace, train_set):
    """What a run of complete options trains on ``train_set``: ``(args with the data's
    defaults for what the user left unset, its TrainConfig, the task, those defaults)``."""
    recipe = b.recipe_for(train_set, getattr(args, "model", None))
    auto = for_run(b.name, args, train_set, recipe)
    args = Namespace(**{**vars(args), **auto.options})
    cfg = train_config(args, {**recipe, **auto.config})
    return args, cfg, b.build(args, train_set), auto


def write_run_report(out: Path) -> Path | None:
    """``out/report.html``; a failure is a warning, never a failed run (the checkpoints and
    metrics are what the run is for)."""
    try:
        from regionlab.report import write_report

        return write_report(out)
    except Exception as e:  # noqa: BLE001 - any failure of the page must leave the run intact
        print(f"warning: {out / 'report.html'} not written ({type(e).__name__}: {e}); "
              f"`regionlab report {out}` tries again", flush=True)  # fmt: skip
        return None


def _training_data(args, b: Builder):
    """Training and validation sets, decoded and checked for this task before any training
    (the whole of ``data`` before a validation fraction is held out, so every problem
    shows)."""
    from regionlab.api.families import family

    check = family(b.name).task_class().check_sample
    data = open_dataset(args.data, split="train")
    data = check_data(data, args.data, check, args.data_check, "--data")
    train_set, val_set = split(data, args)
    if args.val is not None or has_own_val(args.data):  # (not a fraction held out of data)
        spec, what = (args.val, "--val") if args.val is not None else (args.data, "its val split")
        same_classes(data, val_set, args.data, spec)
        val_set = check_data(val_set, spec, check, args.data_check, what)
    return train_set, val_set


def summarise(out: Path, result, task, cfg, extra: dict | None = None, write: bool = True) -> dict:
    """The summary of a finished run; with ``write``, also ``metrics.json`` and
    ``learning_curve.png`` in ``out`` (rank 0 only)."""
    summary = {
        "task": task.name,
        "spec": task.spec_dict(),
        "config": cfg.to_dict(),
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "final": result.metrics,
        "best": result.best,
        **({"growth_not_applied": result.growth_not_applied} if result.growth_not_applied else {}),
        **(extra or {}),
    }
    if write and is_main_process():
        from regionlab.atomic import write_text_atomic
        from regionlab.engine.metrics_log import read_rows, series
        from regionlab.viz.plots import learning_curve

        rows = read_rows(out / "metrics.jsonl")
        learning_curve(
            series(rows, "train", "loss"),
            {f"val {task.main_metric}": series(rows, "val", task.main_metric)},
            out / "learning_curve.png",
            val_loss=series(rows, "val", "loss"),
            title=f"{task.name}: {out.name}",
        )
        write_text_atomic(out / "metrics.json", json.dumps(summary, indent=2))
    return summary


def evaluate(path: str | Path, data: str, *, batch_size: int = 8, device=None,
             data_check: str = "auto", out: str | Path | None = None, iou: float | None = None,
             before: Callable | None = None, after: Callable | None = None) -> dict:  # fmt: skip
    """The metrics of the checkpoint ``path`` on the data spec ``data`` (its classes must be
    the checkpoint's), as a dict; with ``out``, also written there as JSON.

    ``iou``: a detector's final NMS IoU for this evaluation (default: the checkpoint's; a
    higher one keeps more overlapping boxes, which raises AR100 and lowers AP50, see
    ``benchmarks/results/nms_choice.json``). ``before(task)`` runs before the evaluation
    (e.g. set a caption task's ``beam``), ``after(task, model, dataset, metrics)`` after it
    (e.g. write COCO results)."""
    from regionlab.api.families import family
    from regionlab.api.predictor import device as pick_device
    from regionlab.api.predictor import load_run
    from regionlab.atomic import write_text_atomic
    from regionlab.engine.trainer import evaluate as run_evaluation

    task, model, ckpt = load_run(path)
    if iou is not None:
        if not hasattr(model, "nms_iou"):
            raise ValueError(f"iou: {path} is a {task.name} checkpoint, which has no NMS")
        if not 0 < iou <= 1:
            raise ValueError(f"iou must be in (0, 1], got {iou}")
        model.nms_iou = float(iou)
    if before is not None:
        before(task)
    dataset = open_dataset(data, split="val")
    if task.classes and classes_of(dataset) != task.classes:  # captioning has no classes
        raise ValueError(f"{path} was trained on classes {task.classes}, but {data} has "
                         f"{classes_of(dataset)}")  # fmt: skip
    dataset = check_data(dataset, data, family(task.name).task_class().check_sample, data_check)
    cfg = ckpt.train_config(eval_batch_size=batch_size, progress=False)
    where = pick_device(device)
    model = model.to(where)
    metrics = run_evaluation(task, model, dataset, cfg, where)
    if out is not None:
        write_text_atomic(out, json.dumps(metrics, indent=2) + "\n")
    if after is not None:
        after(task, model, dataset, metrics)
    return metrics
