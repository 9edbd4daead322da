"""Recurrent cells written from their equations: the Elman (vanilla) RNN cell and the LSTM cell.

Each cell computes one time step. Shapes: ``N`` batch, ``I`` input features, ``H`` hidden units.
Parameter names, shapes, gate order and initialisation are exactly torch's (``nn.RNNCell``,
``nn.LSTMCell``, and the per-layer weights of ``nn.RNN`` / ``nn.LSTM``), so weights copy across
one to one; the arithmetic is written out with ``F.linear`` instead of calling torch's fused
kernels.

A step is split in two so that a sequence module can batch the part that does not depend on the
state: :meth:`input_projection` (``W_ih x + b_ih``, computed for all time steps in one matmul)
and :meth:`step` (the recurrence, which must run step by step). ``forward`` does both.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NONLINEARITIES = ("tanh", "relu")


class _Cell(nn.Module):
    """Shared parts: the four parameters, torch's initialisation, the input projection."""

    gates = 1  # blocks of H rows stacked in weight_ih / weight_hh
    state_size = 1  # tensors in the state: (h,) or (h, c)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(
                f"input_size and hidden_size must be >= 1, got {input_size}, {hidden_size}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        rows = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows))
            self.bias_hh = nn.Parameter(torch.empty(rows))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's initialisation: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def input_projection(self, x: Tensor) -> Tensor:
        """``W_ih x + b_ih``: ``(..., I) -> (..., gates * H)`` (any leading dims, e.g. ``(T, N)``)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def zero_state(self, x: Tensor) -> tuple[Tensor, ...]:
        """The all-zero state for a batch ``x (N, I)``: a tuple of ``(N, H)`` tensors."""
        zeros = x.new_zeros(x.shape[0], self.hidden_size)
        return (zeros,) * self.state_size

    def step(self, x_proj: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def _check_input(self, x: Tensor) -> tuple[Tensor, bool]:
        """Accepts ``(N, I)`` or an unbatched ``(I,)``; returns the ``(N, I)`` view."""
        if x.dim() not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects an input of shape (N, {self.input_size}) or "
                f"({self.input_size},), got {tuple(x.shape)}"
            )
        return (x.unsqueeze(0), True) if x.dim() == 1 else (x, False)

    def _check_state(self, s: Tensor, batch: int, unbatched: bool, name: str) -> Tensor:
        if unbatched:
            s = s.unsqueeze(0)
        if tuple(s.shape) != (batch, self.hidden_size):
            want = (self.hidden_size,) if unbatched else (batch, self.hidden_size)
            raise ValueError(f"{name} must have shape {want}, got {tuple(s.shape)}")
        return s

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_Cell):
    """The Elman (vanilla) RNN cell.

    ``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` with ``act`` = tanh or ReLU.

    Parameters (torch's names and shapes): ``weight_ih (H, I)``, ``weight_hh (H, H)``,
    ``bias_ih (H,)``, ``bias_hh (H,)``, all ~ U(-1/sqrt(H), 1/sqrt(H)).

    ``forward(x, h=None)``: ``x (N, I)``, ``h (N, H)`` (zeros when None) -> ``h' (N, H)``;
    unbatched ``x (I,)``, ``h (H,)`` -> ``(H,)`` as in torch.
    """

    def __init__(
        self, input_size: int, hidden_size: int, nonlinearity: str = "tanh", bias: bool = True
    ) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(
                f"unknown nonlinearity {nonlinearity!r}; expected one of {NONLINEARITIES}"
            )
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias)

    def step(self, x_proj: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """One step from the precomputed ``x_proj = W_ih x + b_ih (N, H)`` and ``state = (h,)``."""
        (h,) = state
        pre = x_proj + F.linear(h, self.weight_hh, self.bias_hh)
        return (torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre),)

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        x, unbatched = self._check_input(x)
        state = (
            self.zero_state(x) if h is None else (self._check_state(h, x.shape[0], unbatched, "h"),)
        )
        (h_new,) = self.step(self.input_projection(x), state)
        return h_new.squeeze(0) if unbatched else h_new

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTMCell(_Cell):
    """The LSTM cell (Hochreiter & Schmidhuber 1997, with a forget gate, Gers et al. 2000).

    With ``W_ih x + b_ih + W_hh h + b_hh`` split into four ``(N, H)`` blocks in torch's order
    ``[i, f, g, o]``::

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)                  input gate
        f = sigmoid(W_if x + b_if + W_hf h + b_hf + forget_bias)    forget gate
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)                     candidate cell
        o = sigmoid(W_io x + b_io + W_ho h + b_ho)                  output gate
        c' = f * c + i * g
        h' = o * tanh(c')

    The cell state is updated additively (``c' = f * c + ...``), so ``dc'/dc = f`` elementwise:
    with ``f`` near 1 the gradient passes back through many steps without being multiplied by a
    weight matrix and a squashing derivative each time, which is how the LSTM improves gradient
    flow over the vanilla RNN.

    Parameters (torch's names and shapes): ``weight_ih (4H, I)``, ``weight_hh (4H, H)``,
    ``bias_ih (4H,)``, ``bias_hh (4H,)`` (rows ``[i, f, g, o]``), all ~ U(-1/sqrt(H), 1/sqrt(H)).

    ``forget_bias`` is a constant added to the forget gate's pre-activation. The default 0.0
    makes the cell compute exactly what ``torch.nn.LSTMCell`` computes with the same weights.
    1.0 is the common trick (Jozefowicz et al. 2015, "An Empirical Exploration of Recurrent
    Network Architectures"): the cell starts out remembering (f ~ sigmoid(1) = 0.73 instead of
    0.5), which helps it learn long dependencies. A cell trained with ``forget_bias=b`` equals a
    torch LSTM whose ``bias_ih`` forget rows (``[H:2H]``) are increased by ``b``.

    ``forward(x, state=None)``: ``x (N, I)``, ``state = (h (N, H), c (N, H))`` (zeros when None)
    -> ``(h' (N, H), c' (N, H))``; unbatched ``x (I,)`` and ``(H,)`` states as in torch.
    """

    gates = 4
    state_size = 2

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, forget_bias: float = 0.0
    ) -> None:
        self.forget_bias = float(forget_bias)
        super().__init__(input_size, hidden_size, bias)

    def step(self, x_proj: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """One step from the precomputed ``x_proj = W_ih x + b_ih (N, 4H)`` and ``(h, c)``."""
        h, c = state
        pre = x_proj + F.linear(h, self.weight_hh, self.bias_hh)
        i, f, g, o = pre.chunk(4, dim=-1)
        if self.forget_bias:
            f = f + self.forget_bias
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        return h_new, c_new

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        x, unbatched = self._check_input(x)
        if state is None:
            hc = self.zero_state(x)
        else:
            if len(state) != 2:
                raise ValueError("LSTMCell state must be a pair (h, c)")
            hc = tuple(
                self._check_state(s, x.shape[0], unbatched, name)
                for s, name in zip(state, ("h", "c"))
            )
        h_new, c_new = self.step(self.input_projection(x), hc)
        if unbatched:
            return h_new.squeeze(0), c_new.squeeze(0)
        return h_new, c_new

    def extra_repr(self) -> str:
        fb = f", forget_bias={self.forget_bias}" if self.forget_bias else ""
        return super().extra_repr() + fb
