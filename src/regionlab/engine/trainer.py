"""One training loop for every task.

``fit(task, train_set, val_set, config, out_dir)`` trains, evaluates every ``eval_every``
epochs, appends metrics as JSON lines to ``out_dir/metrics.jsonl``, and keeps
``out_dir/last.pt`` (full state, for ``resume=True``) and ``out_dir/best.pt`` (best
``task.main_metric``). Nothing in here knows which task it is running.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
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
from regionlab.engine.loader import Augmented, epoch_batches, make_loader
from regionlab.engine.task import Task


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss; the last good checkpoint is left as it was."""


@dataclass
class FitResult:
    metrics: dict  # the last evaluation
    best: dict  # the best evaluation by the task's main metric
    out_dir: Path
    steps: int
    seconds: float  # training time (evaluation excluded)


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


def fit(
    task: Task,
    train_set,
    val_set,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    log=print,
) -> FitResult:
    cfg.validate()
    out_dir = Path(out_dir)
    rt = runtime.setup(cfg.device, cfg.threads)
    last_path, best_path, metrics_path = (
        out_dir / "last.pt",
        out_dir / "best.pt",
        out_dir / "metrics.jsonl",
    )
    if not resume and last_path.exists():
        raise FileExistsError(
            f"{last_path} exists: pass resume=True (--resume) to continue that "
            "run, or choose another output folder"
        )
    if rt.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        for p in remove_stale_temporaries(out_dir):
            log(f"removed {p.name}, a checkpoint write that was interrupted")

    runtime.seed_everything(cfg.seed)
    model = task.build_model().to(rt.device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, cfg)
    spec = task.spec_dict()
    steps = growing.schedule(cfg.grow)
    state = {
        "epoch": 0,
        "batch": 0,
        "step": 0,
        "elapsed": 0.0,
        "best": None,
        "last_eval": None,
        "grown": 0,
    }
    if resume:
        if not last_path.exists():
            raise CheckpointError(f"{last_path}: nothing to resume (no checkpoint yet)")
        ckpt = load_checkpoint(last_path, task=task.name)
        check_same_model(ckpt, spec, last_path)
        if ckpt["config"].get("grow", "") != cfg.grow:
            raise CheckpointError(
                f"{last_path}: the run grew by {ckpt['config'].get('grow')!r}, not {cfg.grow!r}"
            )
        # Regrow first, so the parameters (and optimizer slots) exist before loading them.
        grown = ckpt["state"].get("grown", 0)
        growing.apply_steps(model, steps, 0, grown, seed=cfg.seed, optimizer=optimizer)
        if grown and cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        state.update(ckpt["state"])
        runtime.set_rng_state(ckpt["rng"])
        log(f"resumed {last_path} at epoch {state['epoch']}, step {state['step']}")

    def wrap(m: nn.Module) -> nn.Module:
        if rt.world == 1:
            return m
        if rt.device.type == "cuda":
            # Batch statistics over the global batch, as in single-process training. (CPU
            # SyncBatchNorm does not exist: on gloo each process normalises its own slice.)
            m = nn.SyncBatchNorm.convert_sync_batchnorm(m)
        return nn.parallel.DistributedDataParallel(
            m, device_ids=[rt.device.index] if rt.device.type == "cuda" else None
        )

    train_model = wrap(model)

    data = Augmented(train_set, task.transform(train=True), cfg.seed)
    steps_per_epoch = len(
        epoch_batches(len(train_set), cfg.batch_size, cfg.seed, 0, world=rt.world)
    )
    if steps_per_epoch == 0:
        raise ValueError(
            f"training set of {len(train_set)} samples is smaller than one global "
            f"batch ({cfg.batch_size} x {rt.world} processes)"
        )
    total_steps = cfg.epochs * steps_per_epoch if cfg.epochs else None
    budget = cfg.minutes * 60 if cfg.minutes else None

    def progress() -> float:
        p = 0.0
        if total_steps:
            p = max(p, state["step"] / total_steps)
        if budget:
            p = max(p, state["elapsed"] / budget)
        return min(p, 1.0)

    def write_metrics(row: dict) -> None:
        if rt.is_main:
            with open(metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    def checkpoint(path: Path) -> None:
        if rt.is_main:
            save_atomic(
                {
                    "format": FORMAT_VERSION,
                    "task": task.name,
                    "spec": spec,
                    "config": cfg.to_dict(),
                    "model": _unwrap(model).state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "state": dict(state),
                    "rng": runtime.rng_state(),
                },
                path,
            )

    def run_eval() -> None:
        if val_set is None:
            return
        metrics = evaluate(task, _unwrap(model), val_set, cfg, rt.device)
        state["last_eval"] = metrics
        main = metrics.get(task.main_metric)
        best = state["best"]
        improved = main is not None and (best is None or main > best.get(task.main_metric, -1e30))
        if improved:
            state["best"] = metrics
        write_metrics({"epoch": state["epoch"], "step": state["step"], "split": "val", **metrics})
        log(
            f"epoch {state['epoch']}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        )
        if improved:
            checkpoint(best_path)

    def done() -> bool:
        return progress() >= 1.0

    bar = tqdm(
        total=total_steps or int(budget),
        disable=not (cfg.progress and rt.is_main),
        unit="step" if total_steps else "s",
        dynamic_ncols=True,
        leave=False,
        mininterval=1.0,
    )
    bar.n = state["step"] if total_steps else int(state["elapsed"])
    model.train()
    while not done():
        epoch = state["epoch"]
        target = (
            growing.due(steps, state["grown"], epoch) if state["batch"] == 0 else state["grown"]
        )
        if target > state["grown"]:
            growing.apply_steps(
                model,
                steps,
                state["grown"],
                target,
                seed=cfg.seed,
                optimizer=optimizer,
                mode=cfg.grow_mode,
                noise=cfg.grow_noise,
            )
            if cfg.channels_last:  # new layers are created in the default layout
                model = model.to(memory_format=torch.channels_last)
            train_model = wrap(model)  # DDP registers parameters when it is built
            for s in steps[state["grown"] : target]:
                write_metrics(
                    {
                        "epoch": epoch,
                        "step": state["step"],
                        "split": "grow",
                        "event": str(s),
                        "params": sum(p.numel() for p in model.parameters()),
                    }
                )
                log(f"grew: {s}")
            state["grown"] = target
        data.epoch = epoch
        batches = epoch_batches(
            len(train_set), cfg.batch_size, cfg.seed, epoch, rank=rt.rank, world=rt.world
        )
        start = state["batch"]
        loader = make_loader(data, batches[start:], task.collate, cfg.num_workers)
        t_last = time.perf_counter()
        for b, batch in enumerate(loader, start=start):
            for g in optimizer.param_groups:
                g["lr"] = cfg.lr * lr_factor(progress(), cfg)
            out = task.step(train_model, batch, rt.device)
            loss = out.loss
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise NonFiniteLossError(
                    f"non-finite loss ({loss_value}) at step {state['step']} (epoch {epoch}, "
                    f"batch {b}, samples {batches[b]}); last good checkpoint: {last_path}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            now = time.perf_counter()
            state["elapsed"] += now - t_last
            t_last = now
            if rt.world > 1:
                # Every process must stop at the same step, so they agree on the clock.
                clock = torch.tensor([state["elapsed"]], dtype=torch.float64)
                torch.distributed.all_reduce(clock, op=torch.distributed.ReduceOp.MAX)
                state["elapsed"] = float(clock)
            state["step"] += 1
            state["batch"] = b + 1
            if rt.is_main:
                # update() redraws at most once per mininterval, so logs stay readable.
                bar.set_postfix(loss=f"{loss_value:.4f}", epoch=epoch, refresh=False)
                pos = state["step"] if total_steps else min(int(state["elapsed"]), bar.total)
                bar.update(pos - bar.n)
            if state["step"] % 10 == 0 or state["step"] == 1:
                write_metrics(
                    {
                        "epoch": epoch,
                        "step": state["step"],
                        "split": "train",
                        "loss": loss_value,
                        "lr": optimizer.param_groups[0]["lr"],
                        "time": round(state["elapsed"], 2),
                        **out.logs,
                    }
                )
            if cfg.checkpoint_every and state["step"] % cfg.checkpoint_every == 0:
                checkpoint(last_path)
            if done():
                break
        epoch_finished = state["batch"] >= len(batches)
        if epoch_finished:
            state["epoch"] = epoch + 1
            state["batch"] = 0
        if epoch_finished and (state["epoch"] % cfg.eval_every == 0) and not done():
            run_eval()
        checkpoint(last_path)
        t_last = time.perf_counter()
    bar.close()
    run_eval()
    checkpoint(last_path)
    if rt.world > 1:
        torch.distributed.barrier()
    return FitResult(
        state["last_eval"] or {}, state["best"] or {}, out_dir, state["step"], state["elapsed"]
    )
