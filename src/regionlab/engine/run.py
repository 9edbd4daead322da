"""The state of one training run and the parts of the loop that change it.

:func:`regionlab.engine.trainer.fit` reads top to bottom; each of its parts is a method of
:class:`Run`: start or resume, grow at epoch starts, one optimisation step, agree on the clock
across processes, evaluate and keep the best, checkpoint. Nothing here knows which task it runs.
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

from regionlab.atomic import append_line, make_folder
from regionlab.engine import cadence, growing, metrics_log, precision, processes, records, runtime
from regionlab.engine.board import Board, require_tensorboard
from regionlab.engine.budget import StepBudget
from regionlab.engine.checkpoint import (
    CheckpointError,
    RunCheckpoint,
    remove_stale_temporaries,
)
from regionlab.engine.config import TrainConfig
from regionlab.engine.errors import NonFiniteLossError
from regionlab.engine.evaluation import evaluate
from regionlab.engine.loader import Augmented, EpochLoader, SampleCache, epoch_batches
from regionlab.engine.memory import StepMemory
from regionlab.engine.optim import build_optimizer
from regionlab.engine.preempt import StopSignals
from regionlab.engine.state import RunState, improves
from regionlab.engine.summary import FlopCount, ModelSummary, parameter_counts
from regionlab.engine.task import Task
from regionlab.ops.global_batch import global_batch


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside DDP (the one whose state dict checkpoints hold)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class Run:
    """One training run: the model, its optimiser, the data, and where the run stands."""

    def __init__(
        self, task: Task, train_set, val_set, cfg: TrainConfig, out_dir: Path, log, save: bool
    ):
        self.task, self.cfg, self.log, self.save = task, cfg, log, save
        if cfg.tensorboard:
            require_tensorboard()  # a missing extra stops the run before any work
        # Decoded once, kept for every epoch (small sets; see SampleCache): training loader
        # workers persist, each with a share. An evaluation's workers live for one pass only.
        cache_mb = cfg.cache_mb / max(1, cfg.num_workers)
        val_mb = 0 if cfg.num_workers else cfg.cache_mb / 4
        self.val_set = SampleCache(val_set, val_mb) if val_set is not None else None
        self.rt = runtime.setup(cfg.device, cfg.threads)
        self.precision = precision.resolve(cfg.precision, self.rt.device, task)
        self.out_dir = out_dir
        self.last_path, self.best_path = out_dir / "last.pt", out_dir / "best.pt"
        self.metrics_path = out_dir / "metrics.jsonl"
        runtime.seed_everything(cfg.seed)
        self.model = task.build_model().to(self.rt.device)
        processes.own_stream(cfg.seed, self.rt)  # the same weights, then a stream each
        self._layout()
        self.optimizer = build_optimizer(self.model, cfg)
        self.spec = task.spec_dict()
        self.growth = growing.schedule(cfg.grow)
        self.state = RunState()
        self.train_size = len(train_set)
        self.steps_per_epoch = len(
            epoch_batches(len(train_set), cfg.batch_size, cfg.seed, 0, world=self.rt.world)
        )
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"training set of {len(train_set)} samples is smaller than one global "
                f"batch ({cfg.batch_size} x {self.rt.world} processes)"
            )
        self.length = StepBudget(cfg, self.steps_per_epoch, self.state)  # steps, fixed once
        self.total_steps = self.length.plan.steps if self.length.plan else None
        self.budget = self.length.budget
        self.data = Augmented(
            SampleCache(train_set, cache_mb), task.transform(train=True), cfg.seed
        )
        self.loader = EpochLoader(self.data, task.collate, cfg.num_workers)
        self.train_model = self.model
        self.last_logs: dict[str, float] = {}
        self.record = records.RunRecord(out_dir)
        self.board: Board | None = None
        self.summary: ModelSummary | None = None  # set by the first step of this process
        self.signals = StopSignals()  # entered by fit(); a signal stops the run after a step
        self.stop_signal: int | None = None  # the signal every process agreed to stop on
        self.saved_at = 0.0  # state.elapsed at the last write of last.pt (checkpoint_minutes)
        self.memory = StepMemory(self.rt.device)  # peaks during steps, in the train rows

    # ------------------------------------------------------------------ setup

    def say(self, msg: str) -> None:
        if self.rt.is_main:
            self.log(msg)

    def _layout(self) -> None:
        # New layers (after growth) are created in the default layout, so this runs again then.
        if self.cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    def prepare_folder(self, resume: bool, restart: bool = False) -> None:
        """``restart``: a resume of a run that stopped before its first ``last.pt`` starts it
        over (its metrics rows go; run.json and best.pt are written anew)."""
        if not resume and self.last_path.exists():
            raise FileExistsError(
                f"{self.last_path} exists: pass resume=True (--resume) to continue that "
                "run, or choose another output folder"
            )
        if restart and self.rt.is_main:
            metrics_log.rewind(self.metrics_path, 0, self.log)
        elif not resume and self.record.exists():
            raise FileExistsError(
                f"{self.record.path} exists: another run started in {self.out_dir}; choose "
                "another output folder (or resume=True, --resume, once it has a last.pt)"
            )
        if self.rt.is_main:
            make_folder(self.out_dir)  # a read-only place fails here, before any training
            for p in remove_stale_temporaries(self.out_dir):
                self.log(f"removed {p.name}, a checkpoint write that was interrupted")

    def check_growth(self) -> None:
        """The whole schedule, before any training: every step applies to the model, and every
        step's epoch lies inside the run (when the run's length is given in epochs)."""
        if not self.growth:
            return
        if self.cfg.epochs is not None:
            late = [str(s) for s in self.growth if s.epoch >= self.cfg.epochs]
            if late:
                raise ValueError(
                    f"growth step(s) {', '.join(late)} would never run: the run has "
                    f"{self.cfg.epochs} epochs (0..{self.cfg.epochs - 1}), growth happens at "
                    "the start of the epoch it names"
                )
        growing.dry_run(self.model, self.growth, seed=self.cfg.seed, mode=self.cfg.grow_mode)

    def resume(self) -> None:
        if not self.last_path.exists():
            raise CheckpointError(f"{self.last_path}: nothing to resume (no checkpoint yet)")
        ckpt = RunCheckpoint.load(self.last_path, task=self.task.name)
        ckpt.check_same_model(self.spec, self.last_path)
        ckpt.check_same_run(self.cfg.to_dict(), self.rt.world, self.last_path)
        if not ckpt.resumable:
            raise CheckpointError(f"{self.last_path}: holds no optimizer state to resume from")
        # Regrow first, so the parameters (and optimizer slots) exist before loading them.
        growing.apply_steps(
            self.model,
            self.growth,
            0,
            ckpt.state.grown,
            seed=self.cfg.seed,
            optimizer=self.optimizer,
        )
        if ckpt.state.grown:
            self._layout()
        self.model.load_state_dict(ckpt.model)
        self.optimizer.load_state_dict(ckpt.optimizer)
        self.state = ckpt.state
        self.length.attach(self.state)
        processes.restore_rng(ckpt.rng, ckpt.process_rng, self.rt)
        self.saved_at = self.state.elapsed
        if self.rt.is_main:  # rows an interrupted attempt wrote after its checkpoint go
            st = self.state
            st.metrics_rows = metrics_log.rewind(self.metrics_path, st.metrics_rows, self.log)
        self.log(f"resumed {self.last_path} at epoch {self.state.epoch}, step {self.state.step}")

    def wrap(self) -> None:
        """The model the optimisation step calls (DDP around it when there are processes)."""
        self.train_model = processes.wrap(self.model, self.rt, self.cfg.sync_bn)

    def open_records(self, resume: bool, record: dict | None) -> None:
        """``run.json`` (a resume appends to it) and the TensorBoard writer, on rank 0, before
        the first step. ``record``: the caller's values (see :mod:`regionlab.engine.records`)."""
        if not self.rt.is_main:
            return
        total, trainable = parameter_counts(unwrap(self.model))
        session = records.session(
            self.task,
            self.cfg,
            self.rt,
            record=record,
            at_step=self.state.step,
            samples={
                "train": self.train_size,
                "val": len(self.val_set) if self.val_set is not None else None,
            },
        )
        session["model"] = ModelSummary(total, trainable).to_dict()
        session["runtime"]["precision"] = self.precision.to_dict()
        self.say(self.precision.line())
        if self.length.plan is not None:
            session["schedule"] = self.length.plan.to_dict()
            self.say(self.length.plan.line(self.budget))
        self.record.start(session, resume=resume)
        if self.cfg.tensorboard:
            self.board = Board(self.out_dir / "tensorboard", resume_step=self.state.step)

    def close_board(self) -> None:
        if self.board is not None:
            self.board.close()
            self.board = None

    # ------------------------------------------------------------------ progress

    def progress(self) -> float:
        return self.length.progress()

    def done(self) -> bool:
        return self.length.done()

    def eval_due(self) -> bool:
        """At an epoch's end: evaluate now (:mod:`.cadence`)?"""
        return cadence.eval_due(self.cfg, self.state, self.budget)

    def fix_length(self) -> None:
        """After each step: a ``minutes`` run fixes its step count once it has measured its speed."""
        plan = self.length.after_step()
        if plan is not None:
            self.say(plan.line(self.budget))
            self.record.update(schedule=plan.to_dict())

    def epoch_pending(self) -> bool:
        """The epoch's batches all trained, its end not yet done (a run stopped on its last)."""
        return self.state.batch >= self.steps_per_epoch

    def write_metrics(self, row: dict) -> None:
        if self.rt.is_main:  # a failed append leaves the file as it was (no torn line)
            append_line(self.metrics_path, json.dumps(row))
            self.state.metrics_rows = (self.state.metrics_rows or 0) + 1

    # ------------------------------------------------------------------ the parts of an epoch

    def grow_if_due(self) -> None:
        """At an epoch start, apply the schedule's steps for this epoch, one row each."""
        st = self.state
        if st.batch != 0:
            return
        target = growing.due(self.growth, st.grown, st.epoch)
        grew = target > st.grown
        while st.grown < target:
            i = st.grown
            growing.apply_steps(
                self.model,
                self.growth,
                i,
                i + 1,
                seed=self.cfg.seed,
                optimizer=self.optimizer,
                mode=self.cfg.grow_mode,
                noise=self.cfg.grow_noise,
            )
            st.grown = i + 1
            params = parameter_counts(self.model)[0]
            self.write_metrics(
                {
                    "epoch": st.epoch,
                    "step": st.step,
                    "split": "grow",
                    "event": str(self.growth[i]),
                    "params": params,
                }
            )
            self.say(f"grew: {self.growth[i]} ({params} parameters)")
            if self.board is not None:
                self.board.scalars("model", {"parameters": params}, st.step)
        if grew:
            self._layout()
            self.wrap()  # DDP registers parameters when it is built

    def step(self, batch, b: int, batches: list[list[int]]) -> float:
        """One optimisation step on ``batch`` (batch ``b`` of the epoch); returns the loss."""
        cfg = self.cfg
        for g in self.optimizer.param_groups:
            g["lr"] = cfg.lr * self.length.lr_factor()
        # The first step of this process (rank 0) is also the model summary's forward.
        counting = self.summary is None and self.rt.is_main
        # several processes: each loss normalised over the global batch (ops.global_batch)
        counter = FlopCount(unwrap(self.model)) if counting else nullcontext()
        with global_batch(self.rt.world), counter as flops, self.precision.autocast(self.rt.device):
            out = self.task.step(self.train_model, batch, self.rt.device)
        if counting:
            self.summary = flops.summary()
            self.say(self.summary.line())
            self.record.update(model=self.summary.to_dict())
        loss_value = float(out.loss.detach())
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        # (max_norm inf: the norm alone, the gradients times 1.0) A finite loss can still give
        # inf / NaN gradients; checked after the all-reduce, every process stops at once.
        norm = float(
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip or math.inf)
        )
        if not (math.isfinite(loss_value) and math.isfinite(norm)):
            raise NonFiniteLossError.at(loss_value, norm, self.state, b, batches[b], self.last_path)
        self.optimizer.step()
        self.last_logs = out.logs
        return loss_value

    def agree_clock(self) -> None:
        """Every process must stop at the same step, so they agree on the elapsed time and on
        a stop signal (one received by any process stops them all)."""
        st = self.state
        st.elapsed, asked = processes.agree(st.elapsed, self.signals.signum or 0, self.rt)
        self.stop_signal = asked or None

    def log_step(self, loss_value: float) -> None:
        st = self.state
        if st.step % 10 == 0 or st.step == 1:
            logged = {
                "loss": loss_value,
                "lr": self.optimizer.param_groups[0]["lr"],
                **self.last_logs,
            }
            self.write_metrics(
                {
                    "epoch": st.epoch,
                    "step": st.step,
                    "split": "train",
                    "time": round(st.elapsed, 2),
                    **logged,
                    **self.memory.row(),  # {"memory": {...}} where measured
                }
            )
            if self.board is not None:
                self.board.scalars("train", logged, st.step)
        # (at an epoch's end, or on a stop, fit() writes it anyway)
        if self.stop_signal is None and not self.epoch_pending() and self.checkpoint_due():
            self.checkpoint(self.last_path)

    def checkpoint_due(self) -> bool:
        """Mid-epoch ``last.pt``: every ``checkpoint_every`` steps, or when
        ``checkpoint_minutes`` have passed since the last write (bounds what a kill loses)."""
        cfg = self.cfg
        if cfg.checkpoint_every and self.state.step % cfg.checkpoint_every == 0:
            return True
        minutes = cfg.checkpoint_minutes  # of training, on the clock all processes agree on
        return bool(minutes) and self.state.elapsed - self.saved_at >= minutes * 60

    def evaluate(self) -> None:
        """Score the validation set, log it, and keep ``best.pt`` when the main metric improves."""
        self.state.evaluated_step = self.state.step  # the cadence counts runs without a val set
        if self.val_set is None:
            return
        task, st, rt = self.task, self.state, self.rt
        shard = {"rank": rt.rank, "world": rt.world}  # each process its share of batches
        metrics = evaluate(task, unwrap(self.model), self.val_set, self.cfg, rt.device, **shard)
        st.last_eval = metrics
        improved = improves(metrics.get(task.main_metric), st.best, task.main_metric)
        if improved:
            st.best = metrics
        self.write_metrics(
            {
                "epoch": st.epoch,
                "step": st.step,
                "split": "val",
                "time": round(st.elapsed, 2),
                **metrics,
            }
        )
        self.say(
            f"epoch {st.epoch}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        )
        if self.board is not None:
            self.board.scalars("val", metrics, st.step)
            self.board.predictions(self.task, unwrap(self.model), self.val_set, st.step)
            self.board.flush()
        if improved:
            self.checkpoint(self.best_path, optimizer=False)

    def checkpoint(self, path: Path, *, optimizer: bool = True) -> None:
        """Everything a resume needs (``optimizer=True``, ``last.pt``), or the model alone.
        Every process calls it at the same step (the random states of all are gathered)."""
        process_rng = None
        if optimizer:
            self.saved_at = self.state.elapsed
            process_rng = processes.rng_states(self.rt)
        if not (self.rt.is_main and self.save):
            return
        RunCheckpoint(
            task=self.task.name,
            spec=self.spec,
            config=self.cfg.to_dict(),
            model=unwrap(self.model).state_dict(),
            state=self.state,
            optimizer=self.optimizer.state_dict() if optimizer else None,
            rng=runtime.rng_state() if optimizer else None,
            process_rng=process_rng,
        ).save(path)
