"""The one multi-task loss: fixed, uncertainty (Kendall et al.) and GradNorm (Chen et al.)."""

import math

import pytest
import torch

from regionlab.models.losses import MultiTaskLoss, regression_loss

TASKS = {"cls": "classification", "box": "regression"}


def test_regression_losses_on_hand_values():
    p, t = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]])
    assert float(regression_loss(p, t, "l2")) == 0.5
    assert float(regression_loss(p, t, "l1")) == 0.5
    # smooth L1 with beta 1/9: |d| = 1 >= beta -> |d| - beta/2.
    assert float(regression_loss(p, t, "smooth_l1")) == pytest.approx((1 - 1 / 18) / 2)
    # Weighted: only the first element counts.
    w = torch.tensor([[1.0, 0.0]])
    assert float(regression_loss(p, t, "l1", w)) == 1.0
    assert float(regression_loss(p, t, "l1", torch.zeros(1, 2))) == 0.0
    with pytest.raises(ValueError, match="unknown regression loss"):
        regression_loss(p, t, "huber")


def test_fixed_weighting_is_a_weighted_sum():
    loss = MultiTaskLoss(TASKS, "fixed", {"box": 3.0})
    total = loss({"cls": torch.tensor(2.0), "box": torch.tensor(0.5)})
    assert float(total) == 3.5
    assert loss.effective_weights() == {"cls": 1.0, "box": 3.0}


def test_uncertainty_weighting_follows_kendall():
    loss = MultiTaskLoss(TASKS, "uncertainty")
    with torch.no_grad():
        loss.log_var.copy_(torch.tensor([math.log(4.0), math.log(0.25)]))  # sigma^2 = 4, 1/4
    l_cls, l_box = torch.tensor(2.0), torch.tensor(0.5)
    # 1/sigma1^2 L1 + 1/(2 sigma2^2) L2 + log sigma1 + log sigma2
    expect = 2.0 / 4 + 0.5 / (2 * 0.25) + math.log(2.0) + math.log(0.5)
    assert float(loss({"cls": l_cls, "box": l_box}).detach()) == pytest.approx(expect)
    assert loss.effective_weights() == pytest.approx({"cls": 0.25, "box": 2.0})
    # A well-learned task (small loss, small sigma) makes the total negative: expected.
    with torch.no_grad():
        loss.log_var.fill_(math.log(0.01))
    assert float(loss({"cls": torch.tensor(0.001), "box": torch.tensor(0.001)}).detach()) < 0
    # Optimal sigma^2: 2 L for L/sigma^2 + log sigma, L for L/(2 sigma^2) + log sigma.
    with torch.no_grad():
        loss.log_var.copy_(torch.tensor([math.log(4.0), math.log(0.5)]))
    loss({"cls": l_cls, "box": l_box}).backward()
    assert loss.log_var.grad.abs().max() < 1e-6


def _shared_case():
    """Two losses of one shared weight W (2,): L_a = 0.5 |W|^2 * 4 and L_b = 0.5 (W . e1)."""
    W = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    return W, {"cls": 2.0 * (W**2).sum(), "box": 0.5 * W[0]}


def test_gradnorm_value_gradients_and_renormalisation():
    loss = MultiTaskLoss(TASKS, "gradnorm", alpha=1.5)
    loss.train()
    with torch.no_grad():
        loss.gn_weights.copy_(torch.tensor([3.0, 1.0]))  # renormalised to sum 2 at the call
    W, losses = _shared_case()
    total = loss(losses, shared=W)
    w = torch.tensor([1.5, 0.5])
    assert torch.allclose(loss.gn_weights.detach(), w)
    # The value is sum w_i L_i (the GradNorm term changes only gradients).
    assert float(total.detach()) == pytest.approx(1.5 * 4.0 + 0.5 * 0.5)
    total.backward()
    # W gets the gradient of sum w_i L_i (weights held constant) ...
    assert torch.allclose(W.grad, 1.5 * 4.0 * W.detach() + 0.5 * torch.tensor([0.5, 0.0]))
    # ... and the weights the gradient of sum |G_i - target| with G_i = w_i ||grad_W L_i||.
    g = torch.tensor([4.0 * math.sqrt(2.0), 0.5])
    G = w * g
    target = G.mean()  # first step: r_i = 1
    expect = torch.sign(G - target) * g
    assert torch.allclose(loss.gn_weights.grad, expect)
    # The task with the larger gradient norm is pushed down, the other up.
    assert loss.gn_weights.grad[0] > 0 > loss.gn_weights.grad[1]


def test_gradnorm_records_initial_losses_and_is_plain_in_eval():
    loss = MultiTaskLoss(TASKS, "gradnorm")
    W, losses = _shared_case()
    loss.train()
    loss(losses, shared=W)
    assert loss.initial.tolist() == [4.0, 0.5]
    assert "initial" in loss.state_dict()
    loss.eval()
    with torch.no_grad():
        assert float(loss(losses)) == pytest.approx(4.0 + 0.5)  # no shared layer needed
    loss.train()
    with pytest.raises(ValueError, match="shared"):
        loss(losses)


def test_bad_configurations_are_clear():
    with pytest.raises(ValueError, match="unknown loss weighting"):
        MultiTaskLoss(TASKS, "magic")
    with pytest.raises(ValueError, match="unknown task"):
        MultiTaskLoss(TASKS, "fixed", {"mask": 1.0})
    with pytest.raises(ValueError, match="missing task loss"):
        MultiTaskLoss(TASKS)({"cls": torch.tensor(1.0)})


def test_gradnorm_ignores_tasks_without_signal():
    loss = MultiTaskLoss(TASKS, "gradnorm")
    loss.train()
    W = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    # The cls loss is identically 0 (one object class): nothing to balance, weights untouched.
    total = loss({"cls": (W * 0).sum(), "box": 0.5 * W[0]}, shared=W)
    total.backward()
    assert loss.gn_weights.grad is None or torch.all(loss.gn_weights.grad == 0)
    assert loss.initial.tolist() == [0.0, 0.5]  # L(0) recorded only where positive
    # Later the cls loss appears: its L(0) is recorded then, and balancing starts.
    loss({"cls": 2.0 * (W**2).sum(), "box": 0.5 * W[0]}, shared=W).backward()
    assert loss.initial.tolist() == [4.0, 0.5] and loss.gn_weights.grad.abs().sum() > 0


def test_uncertainty_log_variance_is_bounded_for_a_zero_loss():
    from regionlab.models.losses import LOG_VAR_BOUND

    loss = MultiTaskLoss(TASKS, "uncertainty")
    with torch.no_grad():
        loss.log_var.fill_(-200.0)  # where exp(-s) would overflow float32
    total = loss({"cls": torch.tensor(0.0), "box": torch.tensor(0.1)})
    assert torch.isfinite(total)
    assert loss.effective_weights()["cls"] == pytest.approx(math.exp(LOG_VAR_BOUND))
