"""Gradient flow through time: vanilla RNN (tanh, ReLU) vs LSTM, at initialisation and trained.

The lecture notes' claim: the LSTM "helps improve gradient flow during back prop", where the
vanilla RNN's gradients vanish (tanh) or explode (ReLU) over long sequences. Measured here as
``||dL_T / dx_1||``, the norm of the gradient of the last step's loss with respect to the FIRST
input, for sequence lengths T in {10, 25, 50, 100, 200}, averaged over random sequences.

Task (a long dependency): step 1 carries a class token (one-hot in input channels 0..3), steps
2..T are distractors (a random one-hot in channels 4..7), and at the last step a linear head on
the hidden state must name the step-1 class (4 classes, chance 25 %, loss ln 4 = 1.386). L_T is
that cross-entropy. Each model (ours, :class:`regionlab.models.recurrent.RNN`, hidden 64,
input 8) is measured (a) at torch's default initialisation and (b) after a short training on
the task at T = 50 (Adam, gradient clipping, 3000 iterations of batch 32, at most 60 s per
model; T ramps from 10 to 50 over the first half, the same for every model, because straight at
T = 50 the LSTM, with forget_bias 0 or 1, stayed at chance in 50-s tries: ``--no-curriculum``).
``lstm_fb1`` is the LSTM with ``forget_bias=1`` (Jozefowicz et al. 2015). A second measure,
``||dL_T/dx_1|| / ||dL_T/dh_T||``, divides out the size of the gradient arriving at the last
state (tiny once a model is confidently right), leaving what survives the trip back in time.
Gradients are measured in float64 so that vanishing values do not underflow to 0.

    OMP_NUM_THREADS=1 python benchmarks/rnn_gradient_flow.py            # ~2-3 min at 1 thread
    python benchmarks/rnn_gradient_flow.py --iterations 300 --models lstm   # quick look

Writes benchmarks/results/rnn_gradient_flow.json and rnn_gradient_flow.png (log scale).
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save  # noqa: E402

from regionlab.models.recurrent import RNN  # noqa: E402

INPUT, HIDDEN, CLASSES = 8, 64, 4
LENGTHS = (10, 25, 50, 100, 200)
MODELS = {  # label -> (cell, forget_bias)
    "rnn_tanh": ("rnn_tanh", 0.0),
    "rnn_relu": ("rnn_relu", 0.0),
    "lstm": ("lstm", 0.0),
    "lstm_fb1": ("lstm", 1.0),
}


class Recall(nn.Module):
    """Recurrent network + linear head on the last hidden state."""

    def __init__(self, cell: str, forget_bias: float) -> None:
        super().__init__()
        self.rnn = RNN(INPUT, HIDDEN, cell=cell, forget_bias=forget_bias)
        self.head = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def sequences(n: int, steps: int, gen: torch.Generator, dtype=torch.float32):
    """``x (n, steps, 8)``, ``y (n,)``: the class token at step 1, distractors after it."""
    y = torch.randint(CLASSES, (n,), generator=gen)
    x = torch.zeros(n, steps, INPUT, dtype=dtype)
    x[torch.arange(n), 0, y] = 1.0
    noise = torch.randint(CLASSES, (n, steps - 1), generator=gen) + CLASSES
    x[:, 1:].scatter_(2, noise.unsqueeze(-1), 1.0)
    return x, y


def first_input_gradients(model: Recall, seeds: int, gen: torch.Generator) -> dict:
    """Per T, over ``seeds`` sequences: ``||dL_T/dx_1||`` and ``||dL_T/dx_1|| / ||dL_T/dh_T||``.

    The second, "flow", divides out how large the gradient arriving at the last hidden state
    is (a trained, confident model has ``dL_T/dlogits = p - y ~ 0``), leaving how much of it
    survives the trip back through ``T - 1`` steps to the first input.
    """
    model = copy.deepcopy(model).double().eval()
    rows = {}
    for steps in LENGTHS:
        x, y = sequences(seeds, steps, gen, torch.float64)
        x.requires_grad_(True)
        out, _ = model.rnn(x)
        h_last = out[:, -1]
        # Sum over sequences: each sequence's gradient is that of its own loss.
        loss = F.cross_entropy(model.head(h_last), y, reduction="sum")
        grad_x, grad_h = torch.autograd.grad(loss, (x, h_last))
        norms = grad_x[:, 0].norm(dim=-1)
        flow = norms / grad_h.norm(dim=-1)
        rows[steps] = {
            "mean": norms.mean().item(),
            "geomean": norms.clamp_min(1e-300).log().mean().exp().item(),
            "min": norms.min().item(),
            "max": norms.max().item(),
            "flow_mean": flow.mean().item(),
            "last_input_mean": grad_x[:, -1].norm(dim=-1).mean().item(),  # ||dL_T/dx_T||
            "loss_mean": loss.item() / seeds,
            "active_fraction": (h_last != 0).double().mean().item(),  # dead ReLUs give 0
        }
    return rows


def accuracy(model: Recall, steps: int, gen: torch.Generator, n: int = 512) -> float:
    with torch.no_grad():
        x, y = sequences(n, steps, gen)
        return (model.eval()(x).argmax(-1) == y).float().mean().item()


def length_at(it: int, iterations: int, steps: int, curriculum: bool) -> int:
    """Training length: ramps from 10 to ``steps`` over the first half of the iterations."""
    if not curriculum:
        return steps
    frac = min(1.0, it / (0.5 * iterations))
    return min(steps, 10 + 5 * round(frac * (steps - 10) / 5))


def train(model: Recall, args: argparse.Namespace, gen: torch.Generator) -> dict:
    """Adam on fresh batches for ``args.iterations`` steps (stopped at ``args.max_seconds``).

    A fixed number of iterations rather than a wall-clock budget keeps runs reproducible on a
    busy machine; the time cap only guards the total run time.
    """
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    model.train()
    start, losses, at_full = time.perf_counter(), [], 0
    for it in range(args.iterations):
        elapsed = time.perf_counter() - start
        if elapsed > args.max_seconds:
            print(f"    time cap {args.max_seconds:.0f}s reached at iteration {it}")
            break
        t = length_at(it, args.iterations, args.train_steps, args.curriculum)
        x, y = sequences(args.batch, t, gen)
        loss = F.cross_entropy(model(x), y)
        if not math.isfinite(loss.item()):
            print(f"    non-finite loss at iteration {it}: stopping")
            break
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        at_full += t == args.train_steps
        if (it + 1) % 500 == 0:
            recent = sum(losses[-100:]) / len(losses[-100:])
            print(f"    it {it + 1:5d}  {elapsed:5.1f}s  T={t:3d}  loss {recent:.3f}")
    tail = losses[-100:] or [float("nan")]
    return {
        "iterations": len(losses),
        "iterations_at_full_length": at_full,
        "seconds": round(time.perf_counter() - start, 1),
        "final_loss": sum(tail) / len(tail),
    }


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    for row, (key, name) in enumerate(
        [
            ("mean", r"$\|\partial L_T / \partial x_1\|$"),
            (
                "flow_mean",
                r"$\|\partial L_T / \partial x_1\| \,/\, \|\partial L_T / \partial h_T\|$",
            ),
        ]
    ):
        for col, phase in enumerate(("init", "trained")):
            ax = axes[row, col]
            for label, r in results.items():
                # Exact zeros (dead ReLU units) have no place on a log axis: left out.
                pts = [(t, r[phase][str(t)][key]) for t in LENGTHS if r[phase][str(t)][key] > 0]
                zero = " (= 0 here)" if len(pts) < len(LENGTHS) else ""
                ax.plot(*(zip(*pts) if pts else ([], [])), marker="o", label=label + zero)
            ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.3)
            if row == 0:
                title = "at initialisation" if phase == "init" else "after training at T = 50"
                ax.set_title(title)
            else:
                ax.set_xlabel("sequence length T")
            if col == 0:
                ax.set_ylabel("mean " + name)
    for ax in axes.flat:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"saved {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--iterations", type=int, default=3000, help="training steps per model")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="time cap per model")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--train-steps", type=int, default=50, help="T used for training")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=8, help="sequences averaged per T")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--no-curriculum",
        dest="curriculum",
        action="store_false",
        help="train at --train-steps from the start (no ramp from T = 10)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    results = {}
    for label in args.models:
        cell, forget_bias = MODELS[label]
        torch.manual_seed(0)
        model = Recall(cell, forget_bias)
        print(f"{label}: measuring at initialisation, then training {args.iterations} iterations")
        init = first_input_gradients(model, args.seeds, torch.Generator().manual_seed(1))
        acc0 = accuracy(model, args.train_steps, torch.Generator().manual_seed(3))
        gen = torch.Generator().manual_seed(2)
        log = train(model, args, gen)
        acc = {t: accuracy(model, t, torch.Generator().manual_seed(3)) for t in LENGTHS}
        trained = first_input_gradients(model, args.seeds, torch.Generator().manual_seed(1))
        results[label] = {
            "cell": cell,
            "forget_bias": forget_bias,
            "init": {str(t): v for t, v in init.items()},
            "trained": {str(t): v for t, v in trained.items()},
            "training": {**log, "accuracy_init": acc0},
            "accuracy_trained": {str(t): v for t, v in acc.items()},
        }
        print(
            f"    {log['iterations']} iterations, loss {log['final_loss']:.3f}, accuracy "
            + ", ".join(f"T={t}: {a:.2f}" for t, a in acc.items())
        )

    head = f"{'model':<10} {'phase':<8}" + "".join(f"{'T=' + str(t):>11}" for t in LENGTHS)
    for key, title in [
        ("mean", "mean ||dL_T/dx_1||"),
        ("flow_mean", "mean ||dL_T/dx_1|| / ||dL_T/dh_T||  (loss scale divided out)"),
    ]:
        print(f"\n{title} over {args.seeds} sequences")
        print(head)
        for label, r in results.items():
            for phase in ("init", "trained"):
                cells = "".join(f"{r[phase][str(t)][key]:>11.2e}" for t in LENGTHS)
                print(f"{label:<10} {phase:<8}{cells}")
    print("\naccuracy on the task after training (chance 0.25)")
    print(f"{'model':<10}" + "".join(f"{'T=' + str(t):>8}" for t in LENGTHS))
    for label, r in results.items():
        print(f"{label:<10}" + "".join(f"{r['accuracy_trained'][str(t)]:>8.2f}" for t in LENGTHS))

    save(
        "rnn_gradient_flow",
        {
            "task": "recall the step-1 class token (4 classes) at the last step; distractors between",
            "input_size": INPUT,
            "hidden_size": HIDDEN,
            "lengths": list(LENGTHS),
            "train_steps": args.train_steps,
            "iterations_per_model": args.iterations,
            "max_seconds_per_model": args.max_seconds,
            "optimizer": f"Adam lr {args.lr}, gradient norm clipped at 1",
            "curriculum": "T ramps 10 -> train_steps over the first half of the iterations"
            if args.curriculum
            else None,
            "batch": args.batch,
            "sequences_per_length": args.seeds,
            "results": results,
        },
    )
    plot(results, RESULTS / "rnn_gradient_flow.png")


if __name__ == "__main__":
    main()
