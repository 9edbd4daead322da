"""One training loop for every task.

``fit(task, train_set, val_set, config, out_dir)`` trains, evaluates at epoch ends (every
``eval_every`` epochs, or spread over the run: :mod:`regionlab.engine.cadence`), appends
metrics as JSON lines to ``out_dir/metrics.jsonl``, and keeps
``out_dir/last.pt`` (full state with the optimizer, for ``resume=True``) and ``out_dir/best.pt``
(model only, best ``task.main_metric``). Nothing in here knows which task it is running.
Before the first step it writes ``out_dir/run.json`` (what started the run, with the model
summary; :mod:`regionlab.engine.records`) and, with ``tensorboard``, opens
``out_dir/tensorboard/`` (:mod:`regionlab.engine.board`).

:func:`fit` reads top to bottom: start or resume, then :func:`train_epoch` until the run's length
(epochs or minutes) is spent, evaluating and checkpointing between epochs. The parts it calls are
methods of :class:`~regionlab.engine.run.Run`, the state of one run.

SIGTERM or SIGINT during :func:`fit` stops the run after its current step (every process of a
torchrun job at the same step): ``last.pt`` is written and :class:`Preempted` raised; ``resume=True``
then continues exactly as if the run had not stopped. ``last.pt`` is written where the run
evaluates, and also every ``checkpoint_minutes`` (and every ``checkpoint_every`` steps), so a
SIGKILL loses bounded work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from regionlab.engine import records, step_cache
from regionlab.engine.config import TrainConfig
from regionlab.engine.errors import NonFiniteLossError, Preempted
from regionlab.engine.evaluation import evaluate
from regionlab.engine.loader import epoch_batches
from regionlab.engine.optim import build_optimizer, lr_factor
from regionlab.engine.progress import ProgressBar
from regionlab.engine.run import Run
from regionlab.engine.task import Task

__all__ = [
    "FitResult",
    "NonFiniteLossError",
    "Preempted",
    "build_optimizer",
    "evaluate",
    "fit",
    "lr_factor",
    "train_epoch",
]


clock = time.perf_counter  # training seconds are read here (a test may give its own clock)


@dataclass
class FitResult:
    metrics: dict  # the last evaluation
    best: dict  # the best evaluation by the task's main metric
    out_dir: Path
    steps: int
    seconds: float  # training time (evaluation excluded)
    is_main: bool = True  # rank 0 (or the only process): the one that writes and prints
    growth_not_applied: list[str] = field(default_factory=list)  # epochs the run never reached


def train_epoch(run: Run, bar: ProgressBar) -> bool:
    """Train the current epoch from ``run.state.batch`` until it ends or the run is done.

    Growth due at the epoch's start is applied first. Returns whether the epoch finished (the
    state then points at batch 0 of the next epoch); ``False`` when the run's budget ran out
    mid-epoch or a stop signal came (see :mod:`regionlab.engine.preempt`).
    """
    cfg, state = run.cfg, run.state
    run.grow_if_due()
    if state.batch == 0:  # kept in the state, so a resumed epoch augments alike
        state.epoch_progress = run.progress()
    epoch = state.epoch  # it and the progress reach the augmentation with every index
    batches = epoch_batches(
        run.train_size, cfg.batch_size, cfg.seed, epoch, rank=run.rt.rank, world=run.rt.world
    )
    start = state.batch
    t_last = clock()
    # no local name for the loader: a traceback that outlives a crash must not keep its workers
    for b, batch in enumerate(
        run.loader.epoch(batches[start:], epoch, state.epoch_progress), start
    ):
        with run.memory.step():  # peak memory sampled during the step itself
            loss_value = run.step(batch, b, batches)
        now = clock()
        state.elapsed += now - t_last
        t_last = now
        run.agree_clock()
        state.step += 1
        state.batch = b + 1
        run.fix_length()
        bar.update(loss_value)
        run.log_step(loss_value)
        if run.done() or run.stop_signal is not None:
            break
    if state.batch < len(batches) or run.stop_signal is not None:
        return False  # a stopped run leaves the epoch's end to its resume (run.epoch_pending)
    state.epoch, state.batch = epoch + 1, 0
    return True


def fit(
    task: Task,
    train_set,
    val_set,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    log=print,
    checkpoints: bool = True,
    record: dict | None = None,
    remember_steps: bool = False,
) -> FitResult:
    """Train ``task`` on ``train_set``; see the module docstring. ``checkpoints=False`` writes
    no ``.pt`` file (metrics only), e.g. for the runs of a cross-validation.

    ``record``: what only the caller knows of the run (the command line's ``flags``, the
    ``data`` specs, ...), plain values stored as they are in ``out_dir/run.json`` (written
    before the first step; a resume appends to it, see :mod:`regionlab.engine.records`).
    ``remember_steps``: a timed run trains the count the first run of its setup on this
    machine fixed, or remembers the one it fixes (:mod:`regionlab.engine.step_cache`)."""
    cfg.validate()
    caller = records.check_caller_record(record)
    run = Run(task, train_set, val_set, cfg, Path(out_dir), log, checkpoints)
    restart = resume and run.record.exists() and not run.last_path.exists()
    if restart:  # killed before its first checkpoint: nothing to continue, all to redo
        run.say(f"{run.last_path} was never written (the run stopped before its first "
                "checkpoint): starting it over")  # fmt: skip
        resume = False
    run.prepare_folder(resume, restart)
    run.check_growth()
    if resume:
        run.resume()
    if remember_steps:
        flags = caller.get("flags") if isinstance(caller.get("flags"), dict) else None
        where = (run.spec, cfg, run.train_size, run.rt.world, run.rt.device.type, flags)
        run.length.remember(step_cache.for_run(*where))
    run.wrap()
    run.open_records(resume, record)
    bar = ProgressBar(run.state, run.total_steps, run.budget, cfg.progress and run.rt.is_main)
    if bar.shown:
        run.log = bar.write
    run.model.train()
    try:
        with run.signals:  # SIGTERM / SIGINT: stop after a step; previous handlers come back
            while not run.done() or run.epoch_pending():
                finished = train_epoch(run, bar)
                if run.stop_signal is not None:
                    _stop(run, bar)
                due = finished and not run.done()  # a finished run evaluates below, once
                evaluated = due and run.eval_due()
                if evaluated:
                    run.evaluate()
                # last.pt where the run evaluates, or on checkpoint_every/_minutes; a run done
                # mid-epoch saves below
                saved = evaluated or (finished and run.checkpoint_due())
                if saved:
                    run.checkpoint(run.last_path)
                run.agree_clock()  # a signal during the evaluation: stop now, not a step later
                if run.stop_signal is not None:
                    _stop(run, bar, saved=saved)
            bar.close()
            run.log = log
            run.evaluate()
            run.checkpoint(run.last_path)
    finally:
        run.loader.close()  # its workers end here, not whenever the run is collected
        run.close_board()  # events written so far stay readable, even after a crash
    return _finish(run, Path(out_dir))


def _stop(run: Run, bar: ProgressBar, saved: bool = False) -> None:
    """Every process stops at this step (they agreed on it): ``last.pt`` with everything the
    resume needs (unless just ``saved``), then :class:`Preempted` (what ``--resume`` continues
    from, bit-identically)."""
    if not saved:
        run.checkpoint(run.last_path)
    bar.close()
    saved = str(run.last_path) if run.save else None
    raise Preempted(run.stop_signal, run.state.step, saved)


def _finish(run: Run, out_dir: Path) -> FitResult:
    """Warn about growth the run never reached, wait for every process, and sum the run up."""
    state = run.state
    not_applied = [str(s) for s in run.growth[state.grown :]]
    if run.length.overrun():
        run.say(run.length.overrun())
    if not_applied:
        run.say(
            f"warning: growth step(s) {', '.join(not_applied)} were not applied: the run ended "
            f"in epoch {state.epoch}"
        )
    if run.rt.world > 1:
        torch.distributed.barrier()
    return FitResult(
        state.last_eval or {},
        state.best or {},
        out_dir,
        state.step,
        state.elapsed,
        run.rt.is_main,
        not_applied,
    )
