"""Losses shared by every multi-output model: box/coordinate regression and the one
multi-task loss that weighs several task losses into a total.

Weighting schemes (``MultiTaskLoss.weighting``):

- ``fixed``: ``total = sum_i lambda_i * L_i`` with user-chosen ``lambda_i``. Pick them by
  cross-validating the metric you care about (``regionlab tune loss-weight``), not by the loss
  value, which depends on the weights themselves.
- ``uncertainty``: homoscedastic task uncertainty (Kendall, Gal and Cipolla, CVPR 2018). With a
  learned ``s_i = log sigma_i^2``: a classification loss gets ``exp(-s_i) * L_i + s_i / 2``
  (``1/sigma^2 L + log sigma``) and a regression loss ``0.5 * exp(-s_i) * L_i + s_i / 2``
  (``1/(2 sigma^2) L + log sigma``). The ``log sigma`` terms go negative once a task is learned
  well (``sigma < 1``), so **a negative total loss is expected** with this scheme.
- ``gradnorm``: GradNorm (Chen et al., ICML 2018). Learned weights ``w_i`` (renormalised to sum to
  the number of tasks) are moved so that each task's gradient norm on the last shared layer,
  ``G_i = ||grad_W w_i L_i||``, approaches ``mean(G) * r_i^alpha`` where ``r_i`` is the task's
  relative inverse training rate ``(L_i / L_i(0)) / mean_j(L_j / L_j(0))``. The network gets the
  gradient of ``sum_i w_i L_i``; the weights get only the gradient of the GradNorm objective
  ``sum_i |G_i - target_i|`` (targets held constant), exactly as in the paper. The returned value
  is ``sum_i w_i L_i``, so logged losses stay comparable with ``fixed``. Under DDP each process
  balances the gradient norms of its own batch slice, so the weights differ slightly from a
  single-process run with the same global batch (fixed and uncertainty weighting do not).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from regionlab.names import REGRESSION_LOSSES, WEIGHTINGS
from regionlab.ops.global_batch import global_count

TaskKind = Literal["classification", "regression"]

# Learned log-variances are kept in [-B, B] (see MultiTaskLoss._log_var).
LOG_VAR_BOUND = 10.0
# torchvision's detection default for smooth L1 on normalised targets.
SMOOTH_L1_BETA = 1.0 / 9.0


def regression_loss(
    pred: torch.Tensor, target: torch.Tensor, kind: str, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean over the weighted elements of an L2 (squared), L1 or smooth-L1 distance.

    ``pred``/``target``: ``(N, ..., D)``; ``weight``: broadcastable to them (e.g. ``(N, K, 1)``
    visibility), elements with weight 0 do not count. Returns 0 (with graph) when nothing counts.
    Under data parallelism the mean is over the global batch (:mod:`regionlab.ops.global_batch`).
    """
    if kind == "l2":
        err = (pred - target) ** 2
    elif kind == "l1":
        err = (pred - target).abs()
    elif kind == "smooth_l1":
        err = F.smooth_l1_loss(pred, target, reduction="none", beta=SMOOTH_L1_BETA)
    else:
        raise ValueError(f"unknown regression loss {kind!r}; choose {', '.join(REGRESSION_LOSSES)}")
    if weight is None:
        return err.sum() / global_count(err.numel())
    weight = weight.expand_as(err).to(err.dtype)
    return (err * weight).sum() / global_count(weight.sum())


class MultiTaskLoss(nn.Module):
    """Weighs named task losses into one total (see the module docstring for the schemes).

    ``tasks``: task name -> ``"classification"`` or ``"regression"`` (matters for
    ``uncertainty``); the order is the order of :meth:`effective_weights`. ``weights``: the fixed
    ``lambda_i`` (missing names default to 1). ``alpha``: GradNorm's asymmetry.

    ``forward(losses, shared)``: ``losses`` maps every task name to a scalar; ``shared`` is the
    weight tensor of the last layer shared by all tasks (needed by ``gradnorm`` while training).
    """

    def __init__(
        self,
        tasks: dict[str, TaskKind],
        weighting: str = "fixed",
        weights: dict[str, float] | None = None,
        alpha: float = 1.5,
    ) -> None:
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ValueError(
                f"unknown loss weighting {weighting!r}; choose {', '.join(WEIGHTINGS)}"
            )
        unknown = set(weights or {}) - set(tasks)
        if unknown:
            raise ValueError(
                f"loss weights for unknown task(s) {sorted(unknown)}; tasks: {list(tasks)}"
            )
        for name, kind in tasks.items():
            if kind not in ("classification", "regression"):
                raise ValueError(f"task {name!r}: kind must be classification or regression")
        self.names = list(tasks)
        self.kinds = [tasks[n] for n in self.names]
        self.weighting = weighting
        self.alpha = alpha
        fixed = torch.tensor([float((weights or {}).get(n, 1.0)) for n in self.names])
        self.register_buffer("fixed", fixed)
        if weighting == "uncertainty":
            self.log_var = nn.Parameter(torch.zeros(len(self.names)))  # s_i = log sigma_i^2
        if weighting == "gradnorm":
            self.gn_weights = nn.Parameter(torch.ones(len(self.names)))
            # L_i(0): each task's first positive training loss (a task whose first batch has
            # no signal, loss 0, is recorded later); part of the state so resumes agree.
            self.register_buffer("initial", torch.zeros(len(self.names)))

    def _scale(self) -> torch.Tensor:
        """Multiplier of each task loss (with graph for learned schemes)."""
        if self.weighting == "uncertainty":
            half = torch.tensor(
                [1.0 if k == "classification" else 0.5 for k in self.kinds],
                device=self.log_var.device,
            )
            return half * torch.exp(-self._log_var())
        if self.weighting == "gradnorm":
            return self.gn_weights
        return self.fixed

    def _log_var(self) -> torch.Tensor:
        # A loss that is identically 0 (e.g. classification with one class) would pull its
        # log-variance down by a constant gradient for ever until exp(-s) overflows (about 44k
        # Adam steps at lr 2e-3); the bound stops it there (weight <= e^10), gradients vanish.
        return self.log_var.clamp(-LOG_VAR_BOUND, LOG_VAR_BOUND)

    @torch.no_grad()
    def effective_weights(self) -> dict[str, float]:
        """The current multiplier of each task loss, for logging."""
        return {n: float(w) for n, w in zip(self.names, self._scale())}

    def forward(
        self, losses: dict[str, torch.Tensor], shared: torch.Tensor | None = None
    ) -> torch.Tensor:
        missing = set(self.names) - set(losses)
        if missing:
            raise ValueError(f"missing task loss(es) {sorted(missing)}")
        stacked = torch.stack([losses[n] for n in self.names])
        if self.weighting == "fixed":
            return (self.fixed * stacked).sum()
        if self.weighting == "uncertainty":
            return (self._scale() * stacked).sum() + 0.5 * self._log_var().sum()
        return self._gradnorm(stacked, shared)

    def _gradnorm(self, losses: torch.Tensor, shared: torch.Tensor | None) -> torch.Tensor:
        n = len(self.names)
        if self.training and torch.is_grad_enabled():
            with torch.no_grad():  # the paper renormalises after each update; same thing, earlier
                self.gn_weights.clamp_(min=1e-3)
                self.gn_weights.mul_(n / self.gn_weights.sum())
        w = self.gn_weights
        total = (w.detach() * losses).sum()
        if not (self.training and torch.is_grad_enabled()):
            return total
        if shared is None:
            raise ValueError("gradnorm needs the last shared layer's weight (shared=...)")
        with torch.no_grad():
            fresh = (self.initial == 0) & (losses.detach() > 0)
            self.initial.copy_(torch.where(fresh, losses.detach(), self.initial))
        # ||grad_W L_i||, without a graph: G_i = w_i * g_i is linear in w_i, so the gradient of
        # the GradNorm objective w.r.t. w needs no second-order terms.
        g = torch.stack([_grad_norm(losses[i], shared) for i in range(n)])
        # Tasks without signal (no gradient, or no L(0) yet) are left out of the balancing:
        # their G = 0 would only drag mean(G) and the others' targets down.
        active = (g > 0) & (self.initial > 0)
        if int(active.sum()) < 2:
            return total
        G = w * g
        ratio = losses.detach() / self.initial.clamp(min=1e-12)
        r = ratio / ratio[active].mean().clamp(min=1e-12)
        target = (G[active].mean() * r**self.alpha).detach()
        grad_loss = (G - target).abs()[active].sum()
        # Adds grad_loss's gradient (to w only) without changing the reported value.
        return total + grad_loss - grad_loss.detach()


def _grad_norm(loss: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """``||d loss / d param||`` as a constant (0 when the loss does not depend on ``param``)."""
    if not loss.requires_grad:
        return loss.new_zeros(())
    (grad,) = torch.autograd.grad(loss, param, retain_graph=True, allow_unused=True)
    return loss.new_zeros(()) if grad is None else grad.norm().detach()
