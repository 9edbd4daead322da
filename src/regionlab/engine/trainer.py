"""One training loop for every task.

``fit(task, train_set, val_set, config, out_dir)`` trains, evaluates every ``eval_every``
epochs, appends metrics as JSON lines to ``out_dir/metrics.jsonl``, and keeps
``out_dir/last.pt`` (full state with the optimizer, for ``resume=True``) and ``out_dir/best.pt``
(model only, best ``task.main_metric``). Nothing in here knows which task it is running.

The loop reads top to bottom in :func:`fit`; each of its parts is a method of :class:`_Run`
(the state of one run): start or resume, grow at epoch starts, one optimisation step, agree on
the clock across processes, evaluate and keep the best, checkpoint.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from regionlab.engine import growing, runtime
from regionlab.engine.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    check_same_model,
    load_checkpoint,
    remove_stale_temporaries,
    save_atomic,
)
from regionlab.engine.config import TrainConfig
from regionlab.engine.errors import NonFiniteLossError
from regionlab.engine.loader import Augmented, SampleCache, epoch_batches, make_loader
from regionlab.engine.task import Task

__all__ = ["FitResult", "NonFiniteLossError", "build_optimizer", "evaluate", "fit", "lr_factor"]


@dataclass
class FitResult:
    metrics: dict  # the last evaluation
    best: dict  # the best evaluation by the task's main metric
    out_dir: Path
    steps: int
    seconds: float  # training time (evaluation excluded)
    is_main: bool = True  # rank 0 (or the only process): the one that writes and prints
    growth_not_applied: list[str] = field(default_factory=list)  # epochs the run never reached


def lr_factor(progress: float, cfg: TrainConfig) -> float:
    """Linear warm-up over the first ``cfg.warmup`` of training, then cosine decay or constant."""
    if cfg.warmup > 0 and progress < cfg.warmup:
        return max(progress / cfg.warmup, 1e-3)
    if cfg.schedule == "constant":
        return 1.0
    p = (progress - cfg.warmup) / max(1e-8, 1 - cfg.warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, p))))


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on norms and biases: decaying them only fights the normalisation.
    decay, plain = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else plain).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def evaluate(task: Task, model: nn.Module, dataset, cfg: TrainConfig, device) -> dict:
    """Run ``task.evaluate`` over ``dataset`` in order, in eval mode, without gradients."""
    plain = Augmented(dataset, task.transform(train=False), cfg.seed)
    batches = epoch_batches(
        len(dataset), cfg.eval_batch_size, cfg.seed, 0, shuffle=False, drop_last=False
    )
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return task.evaluate(
                model, make_loader(plain, batches, task.collate, cfg.num_workers), device
            )
    finally:
        model.train(was)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class _Run:
    """The state of one training run and the parts of the loop that change it."""

    def __init__(
        self, task: Task, train_set, val_set, cfg: TrainConfig, out_dir: Path, log, save: bool
    ):
        self.task, self.cfg, self.log, self.save = task, cfg, log, save
        # Decoded once, kept for every epoch and evaluation (small sets; see SampleCache). Not
        # with loader workers: they are new processes each epoch, and each would hold a copy.
        cache_mb = cfg.cache_mb if cfg.num_workers == 0 else 0
        self.val_set = SampleCache(val_set, cache_mb / 4) if val_set is not None else None
        self.rt = runtime.setup(cfg.device, cfg.threads)
        self.out_dir = out_dir
        self.last_path, self.best_path = out_dir / "last.pt", out_dir / "best.pt"
        self.metrics_path = out_dir / "metrics.jsonl"
        runtime.seed_everything(cfg.seed)
        self.model = task.build_model().to(self.rt.device)
        self._layout()
        self.optimizer = build_optimizer(self.model, cfg)
        self.spec = task.spec_dict()
        self.growth = growing.schedule(cfg.grow)
        self.state = {
            "epoch": 0,
            "batch": 0,
            "step": 0,
            "elapsed": 0.0,
            "best": None,
            "last_eval": None,
            "grown": 0,
        }
        self.steps_per_epoch = len(
            epoch_batches(len(train_set), cfg.batch_size, cfg.seed, 0, world=self.rt.world)
        )
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"training set of {len(train_set)} samples is smaller than one global "
                f"batch ({cfg.batch_size} x {self.rt.world} processes)"
            )
        self.total_steps = cfg.epochs * self.steps_per_epoch if cfg.epochs else None
        self.budget = cfg.minutes * 60 if cfg.minutes else None
        self.data = Augmented(
            SampleCache(train_set, cache_mb), task.transform(train=True), cfg.seed
        )
        self.train_model = self.model

    # ------------------------------------------------------------------ setup

    def say(self, msg: str) -> None:
        if self.rt.is_main:
            self.log(msg)

    def _layout(self) -> None:
        # New layers (after growth) are created in the default layout, so this runs again then.
        if self.cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    def prepare_folder(self, resume: bool) -> None:
        if not resume and self.last_path.exists():
            raise FileExistsError(
                f"{self.last_path} exists: pass resume=True (--resume) to continue that "
                "run, or choose another output folder"
            )
        if self.rt.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
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
        ckpt = load_checkpoint(self.last_path, task=self.task.name)
        check_same_model(ckpt, self.spec, self.last_path)
        if ckpt["config"].get("grow", "") != self.cfg.grow:
            raise CheckpointError(
                f"{self.last_path}: the run grew by {ckpt['config'].get('grow')!r}, "
                f"not {self.cfg.grow!r}"
            )
        if "optimizer" not in ckpt:
            raise CheckpointError(f"{self.last_path}: holds no optimizer state to resume from")
        # Regrow first, so the parameters (and optimizer slots) exist before loading them.
        grown = ckpt["state"].get("grown", 0)
        growing.apply_steps(
            self.model, self.growth, 0, grown, seed=self.cfg.seed, optimizer=self.optimizer
        )
        if grown:
            self._layout()
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.state.update(ckpt["state"])
        runtime.set_rng_state(ckpt["rng"])
        self.log(
            f"resumed {self.last_path} at epoch {self.state['epoch']}, step {self.state['step']}"
        )

    def wrap(self) -> None:
        """The model the optimisation step calls: DDP around it when there are processes."""
        m = self.model
        if self.rt.world > 1:
            if self.rt.device.type == "cuda":
                # Batch statistics over the global batch, as in single-process training. (CPU
                # SyncBatchNorm does not exist: on gloo each process normalises its own slice.)
                m = nn.SyncBatchNorm.convert_sync_batchnorm(m)
            m = nn.parallel.DistributedDataParallel(
                m, device_ids=[self.rt.device.index] if self.rt.device.type == "cuda" else None
            )
        self.train_model = m

    # ------------------------------------------------------------------ progress

    def progress(self) -> float:
        p = 0.0
        if self.total_steps:
            p = max(p, self.state["step"] / self.total_steps)
        if self.budget:
            p = max(p, self.state["elapsed"] / self.budget)
        return min(p, 1.0)

    def done(self) -> bool:
        return self.progress() >= 1.0

    def write_metrics(self, row: dict) -> None:
        if self.rt.is_main:
            with open(self.metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    # ------------------------------------------------------------------ the parts of an epoch

    def grow_if_due(self) -> None:
        """At an epoch start, apply the schedule's steps for this epoch, one row each."""
        epoch = self.state["epoch"]
        if self.state["batch"] != 0:
            return
        target = growing.due(self.growth, self.state["grown"], epoch)
        grew = target > self.state["grown"]
        while self.state["grown"] < target:
            i = self.state["grown"]
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
            self.state["grown"] = i + 1
            self.write_metrics(
                {
                    "epoch": epoch,
                    "step": self.state["step"],
                    "split": "grow",
                    "event": str(self.growth[i]),
                    "params": _param_count(self.model),
                }
            )
            self.say(f"grew: {self.growth[i]} ({_param_count(self.model)} parameters)")
        if grew:
            self._layout()
            self.wrap()  # DDP registers parameters when it is built

    def step(self, batch, b: int, batches: list[list[int]]) -> float:
        """One optimisation step on ``batch`` (batch ``b`` of the epoch); returns the loss."""
        cfg = self.cfg
        for g in self.optimizer.param_groups:
            g["lr"] = cfg.lr * lr_factor(self.progress(), cfg)
        out = self.task.step(self.train_model, batch, self.rt.device)
        loss_value = float(out.loss.detach())
        if not math.isfinite(loss_value):
            raise NonFiniteLossError(
                f"non-finite loss ({loss_value}) at step {self.state['step']} (epoch "
                f"{self.state['epoch']}, batch {b}, samples {batches[b]}); last good "
                f"checkpoint: {self.last_path}"
            )
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.last_logs = out.logs
        return loss_value

    def agree_clock(self) -> None:
        """Every process must stop at the same step, so they agree on the elapsed time."""
        if self.rt.world > 1:
            clock = torch.tensor([self.state["elapsed"]], dtype=torch.float64)
            torch.distributed.all_reduce(clock, op=torch.distributed.ReduceOp.MAX)
            self.state["elapsed"] = float(clock)

    def log_step(self, loss_value: float) -> None:
        s = self.state["step"]
        if s % 10 == 0 or s == 1:
            self.write_metrics(
                {
                    "epoch": self.state["epoch"],
                    "step": s,
                    "split": "train",
                    "loss": loss_value,
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "time": round(self.state["elapsed"], 2),
                    **self.last_logs,
                }
            )
        if self.cfg.checkpoint_every and s % self.cfg.checkpoint_every == 0:
            self.checkpoint(self.last_path)

    def evaluate(self) -> None:
        """Score the validation set, log it, and keep ``best.pt`` when the main metric improves."""
        if self.val_set is None:
            return
        task = self.task
        metrics = evaluate(task, _unwrap(self.model), self.val_set, self.cfg, self.rt.device)
        self.state["last_eval"] = metrics
        main = metrics.get(task.main_metric)
        best = self.state["best"]
        improved = main is not None and (best is None or main > best.get(task.main_metric, -1e30))
        if improved:
            self.state["best"] = metrics
        self.write_metrics(
            {
                "epoch": self.state["epoch"],
                "step": self.state["step"],
                "split": "val",
                "time": round(self.state["elapsed"], 2),
                **metrics,
            }
        )
        self.say(
            f"epoch {self.state['epoch']}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        )
        if improved:
            self.checkpoint(self.best_path, optimizer=False)

    def checkpoint(self, path: Path, *, optimizer: bool = True) -> None:
        """Everything a resume needs (``optimizer=True``, ``last.pt``), or the model alone."""
        if not (self.rt.is_main and self.save):
            return
        ckpt = {
            "format": FORMAT_VERSION,
            "task": self.task.name,
            "spec": self.spec,
            "config": self.cfg.to_dict(),
            "model": _unwrap(self.model).state_dict(),
            "state": dict(self.state),
        }
        if optimizer:
            ckpt["optimizer"] = self.optimizer.state_dict()
            ckpt["rng"] = runtime.rng_state()
        save_atomic(ckpt, path)


class _Bar:
    """The progress bar: steps of an epoch-length run, or elapsed / budget of a timed one, with
    steps per second; log lines are printed above it, never glued onto it."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.timed = run.total_steps is None
        total = int(run.budget) if self.timed else run.total_steps
        self.tqdm = tqdm(
            total=total,
            # Only on a terminal: in a log file the redraws would be glued to the log lines.
            disable=not (run.cfg.progress and run.rt.is_main and sys.stderr.isatty()),
            unit="s" if self.timed else "step",
            bar_format="{percentage:3.0f}%|{bar}| {desc}",
            dynamic_ncols=True,
            leave=False,
            mininterval=1.0,
        )
        self.start_step, self.t0 = run.state["step"], time.perf_counter()
        self.tqdm.n = run.state["step"] if not self.timed else int(run.state["elapsed"])
        if not self.tqdm.disable:
            run.log = self.write

    def write(self, msg: str) -> None:
        self.tqdm.write(msg)

    def update(self, loss_value: float) -> None:
        run, st = self.run, self.run.state
        rate = (st["step"] - self.start_step) / max(time.perf_counter() - self.t0, 1e-9)
        where = (
            f"{st['elapsed']:.0f}/{run.budget:.0f} s"
            if self.timed
            else f"step {st['step']}/{run.total_steps}"
        )
        self.tqdm.set_description_str(
            f"{where}, {rate:.2f} steps/s, epoch {st['epoch']}, loss {loss_value:.4f}",
            refresh=False,
        )
        pos = min(int(st["elapsed"]), self.tqdm.total) if self.timed else st["step"]
        self.tqdm.update(pos - self.tqdm.n)

    def close(self) -> None:
        self.tqdm.close()


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
) -> FitResult:
    """Train ``task`` on ``train_set``; see the module docstring. ``checkpoints=False`` writes
    no ``.pt`` file (metrics only), e.g. for the runs of a cross-validation."""
    cfg.validate()
    run = _Run(task, train_set, val_set, cfg, Path(out_dir), log, checkpoints)
    run.prepare_folder(resume)
    run.check_growth()
    if resume:
        run.resume()
    run.wrap()
    bar = _Bar(run)
    run.model.train()
    state = run.state
    while not run.done():
        run.grow_if_due()
        if state["batch"] == 0:  # kept in the state, so a resumed epoch augments alike
            state["epoch_progress"] = run.progress()
        run.data.epoch = epoch = state["epoch"]
        run.data.progress = state.get("epoch_progress", 0.0)
        batches = epoch_batches(
            len(train_set), cfg.batch_size, cfg.seed, epoch, rank=run.rt.rank, world=run.rt.world
        )
        start = state["batch"]
        loader = make_loader(run.data, batches[start:], task.collate, cfg.num_workers)
        t_last = time.perf_counter()
        for b, batch in enumerate(loader, start=start):
            loss_value = run.step(batch, b, batches)
            now = time.perf_counter()
            state["elapsed"] += now - t_last
            t_last = now
            run.agree_clock()
            state["step"] += 1
            state["batch"] = b + 1
            bar.update(loss_value)
            run.log_step(loss_value)
            if run.done():
                break
        epoch_finished = state["batch"] >= len(batches)
        if epoch_finished:
            state["epoch"] = epoch + 1
            state["batch"] = 0
        if epoch_finished and (state["epoch"] % cfg.eval_every == 0) and not run.done():
            run.evaluate()
        run.checkpoint(run.last_path)
    bar.close()
    run.log = log
    run.evaluate()
    run.checkpoint(run.last_path)
    not_applied = [str(s) for s in run.growth[state["grown"] :]]
    if not_applied:
        run.say(
            f"warning: growth step(s) {', '.join(not_applied)} were not applied: the run ended "
            f"in epoch {state['epoch']}"
        )
    if run.rt.world > 1:
        torch.distributed.barrier()
    return FitResult(
        state["last_eval"] or {},
        state["best"] or {},
        Path(out_dir),
        state["step"],
        state["elapsed"],
        run.rt.is_main,
        not_applied,
    )
