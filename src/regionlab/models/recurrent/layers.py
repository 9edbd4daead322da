"""A multi-layer, optionally bidirectional recurrent network over the cells in :mod:`.cells`.

``RNN(cell="rnn_tanh" | "rnn_relu" | "lstm")`` computes what ``torch.nn.RNN`` / ``torch.nn.LSTM``
compute, including on padded batches of variable-length sequences (``lengths``), where it gives
what torch gives on a ``pack_padded_sequence`` input: zeros at padded steps, and final states
taken at each sequence's own last real step in both directions. :meth:`RNN.load_from_torch` and
:meth:`RNN.from_torch` copy a torch module's weights in.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cells import LSTMCell, RNNCell

CELLS = ("rnn_tanh", "rnn_relu", "lstm")
_TORCH_MODES = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu", "LSTM": "lstm"}

State = Tensor | tuple[Tensor, Tensor]


def _scan(
    cell: RNNCell | LSTMCell,
    x: Tensor,
    state: tuple[Tensor, ...],
    mask: Tensor | None,
    reverse: bool,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Runs one cell over a time-major sequence ``x (T, N, I)`` from ``state`` (tuple of (N, H)).

    Returns the outputs ``(T, N, H)`` and the final state. ``mask (T, N, 1)`` is True at real
    steps and False at padding (None: no padding).

    Masking, instead of packing: every sequence is stepped through all ``T`` steps, and at a
    padded step the new state is thrown away (``where(mask, new, old)``) and the output is zero.
    Padding is always at the end of a sequence, so

    - forward direction: after a sequence's last real step its state is frozen, so the state
      after step ``T`` is the one at its last real step;
    - reverse direction (``t = T-1 .. 0``): the padded steps come first and leave the initial
      state untouched, so each sequence's reverse pass really starts at its own last real step,
      from the initial state, and no padding leaks into it.

    That is what ``pack_padded_sequence`` gives, and ``torch.where`` sends no gradient through
    the discarded values, so the gradients are the packed ones too.
    """
    # W_ih x + b_ih does not depend on the state: one matmul for all time steps.
    x_proj = cell.input_projection(x)
    outputs: list[Tensor] = [x.new_empty(0)] * x.shape[0]
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    for t in steps:
        new = cell.step(x_proj[t], state)
        if mask is None:
            outputs[t] = new[0]
        else:
            real = mask[t]
            new = tuple(torch.where(real, n, s) for n, s in zip(new, state))
            outputs[t] = new[0].masked_fill(~real, 0.0)
        state = new
    return torch.stack(outputs), state


class RNN(nn.Module):
    """Stacked Elman RNN (tanh or ReLU) or LSTM, unidirectional or bidirectional.

    Args:
        input_size: ``I``, features per time step.
        hidden_size: ``H``, hidden units per layer and direction.
        num_layers: ``L``; layer ``k > 0`` reads layer ``k-1``'s output (``H * D`` features).
        cell: ``"rnn_tanh"``, ``"rnn_relu"`` (:class:`RNNCell`) or ``"lstm"`` (:class:`LSTMCell`).
        bidirectional: ``D = 2`` directions, outputs concatenated ``[forward, reverse]``.
        batch_first: input / output ``(N, T, ·)`` if True (the default here, unlike torch),
            else ``(T, N, ·)``. States are ``(L * D, N, H)`` either way, as in torch.
        dropout: dropout on each layer's output except the last, in training mode (as torch).
        bias: whether the cells have ``bias_ih`` / ``bias_hh``.
        forget_bias: LSTM only, see :class:`LSTMCell` (0.0 = exactly torch).

    ``forward(input, hx=None, lengths=None)``:

    - ``input (N, T, I)`` (batch_first);
    - ``hx``: initial state, ``h_0 (L * D, N, H)``, or ``(h_0, c_0)`` for the LSTM; zeros if None;
    - ``lengths (N,)`` integer, each in ``[1, T]``: the real length of each padded sequence.

    Returns ``(output, h_n)`` or, for the LSTM, ``(output, (h_n, c_n))``: ``output
    (N, T, D * H)`` with zeros at padded steps, ``h_n`` / ``c_n (L * D, N, H)`` indexed
    ``layer * D + direction``, taken at each sequence's last real step (the reverse direction's
    final state is the one after it has read step 0).

    The cells are ``self.cells[layer * D + direction]``; torch's ``weight_ih_l{k}{_reverse}``
    etc. map onto them (:meth:`load_from_torch`).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        cell: str = "rnn_tanh",
        bidirectional: bool = False,
        batch_first: bool = True,
        dropout: float = 0.0,
        bias: bool = True,
        forget_bias: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; expected one of {CELLS}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if forget_bias and cell != "lstm":
            raise ValueError("forget_bias applies to the LSTM only")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.cell = cell
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bias = bias
        self.forget_bias = float(forget_bias)
        cells = []
        for layer in range(num_layers):
            size = input_size if layer == 0 else hidden_size * self.num_directions
            for _ in range(self.num_directions):
                if cell == "lstm":
                    cells.append(LSTMCell(size, hidden_size, bias, forget_bias))
                else:
                    cells.append(RNNCell(size, hidden_size, cell.removeprefix("rnn_"), bias))
        self.cells = nn.ModuleList(cells)

    def reset_parameters(self) -> None:
        for c in self.cells:
            c.reset_parameters()

    # ----------------------------------------------------------------- forward
    def forward(
        self,
        input: Tensor,
        hx: State | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, State]:
        if input.dim() != 3:
            layout = "(N, T, I)" if self.batch_first else "(T, N, I)"
            raise ValueError(
                f"RNN expects a 3-D input {layout} (batch_first={self.batch_first}), "
                f"got shape {tuple(input.shape)}"
            )
        x = input.transpose(0, 1) if self.batch_first else input  # time-major (T, N, I)
        steps, batch, features = x.shape
        if features != self.input_size:
            raise ValueError(f"input has {features} features, expected {self.input_size}")
        if steps == 0:
            raise ValueError("input has no time steps")
        mask = self._mask(lengths, steps, batch, x.device)
        initial = self._initial_state(hx, batch, x)  # tuple of (L * D, N, H)

        finals: list[tuple[Tensor, ...]] = []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                start = tuple(s[k] for s in initial)
                out, final = _scan(self.cells[k], layer_in, start, mask, reverse=d == 1)
                outs.append(out)
                finals.append(final)
            layer_in = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, training=True)

        output = layer_in.transpose(0, 1) if self.batch_first else layer_in
        h_n = torch.stack([f[0] for f in finals])
        if self.cell == "lstm":
            return output, (h_n, torch.stack([f[1] for f in finals]))
        return output, h_n

    def _mask(
        self, lengths: Tensor | Sequence[int] | None, steps: int, batch: int, device
    ) -> Tensor | None:
        """``(T, N, 1)`` bool, True at real steps; None when there is no padding to mask."""
        if lengths is None:
            return None
        lengths = torch.as_tensor(lengths)
        if lengths.dim() != 1 or lengths.numel() != batch:
            raise ValueError(
                f"lengths must have shape ({batch},), one per sequence, got {tuple(lengths.shape)}"
            )
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > steps:
            raise ValueError(
                f"lengths must lie in [1, {steps}] (the padded length), got min {lo}, max {hi}"
            )
        if lo == steps:
            return None
        lengths = lengths.to(device)
        return (torch.arange(steps, device=device)[:, None] < lengths[None, :]).unsqueeze(-1)

    def _initial_state(self, hx: State | None, batch: int, x: Tensor) -> tuple[Tensor, ...]:
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if hx is None:
            zeros = x.new_zeros(shape)
            return (zeros, zeros) if self.cell == "lstm" else (zeros,)
        if self.cell == "lstm":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError("the LSTM's hx must be a pair (h_0, c_0)")
            states = tuple(hx)
        else:
            if not isinstance(hx, Tensor):
                raise ValueError("the RNN's hx must be a tensor h_0")
            states = (hx,)
        for s in states:
            if tuple(s.shape) != shape:
                raise ValueError(
                    f"initial state must have shape (L * D, N, H) = {shape}, got {tuple(s.shape)}"
                )
        return states

    # ------------------------------------------------------------ torch interop
    def load_from_torch(self, module: nn.RNN | nn.LSTM) -> RNN:
        """Copies ``module``'s weights (``weight_ih_l{k}{_reverse}`` ...) into this network.

        ``module`` must be an ``nn.RNN`` / ``nn.LSTM`` of the same cell type, sizes, number of
        layers, directions and bias (``proj_size`` 0). Returns ``self``.
        """
        mode = _TORCH_MODES.get(getattr(module, "mode", None))
        if not isinstance(module, nn.RNNBase) or mode is None:
            raise ValueError(f"expected a torch nn.RNN or nn.LSTM, got {type(module).__name__}")
        if getattr(module, "proj_size", 0):
            raise ValueError("LSTMs with proj_size > 0 are not supported")
        theirs = (
            mode,
            module.input_size,
            module.hidden_size,
            module.num_layers,
            module.bidirectional,
            module.bias,
        )
        ours = (
            self.cell,
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.bidirectional,
            self.bias,
        )
        if theirs != ours:
            names = "(cell, input_size, hidden_size, num_layers, bidirectional, bias)"
            raise ValueError(f"configuration mismatch {names}: torch {theirs}, ours {ours}")
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        with torch.no_grad():
            for layer in range(self.num_layers):
                for d in range(self.num_directions):
                    cell = self.cells[layer * self.num_directions + d]
                    suffix = f"_l{layer}" + ("_reverse" if d else "")
                    for name in names:
                        getattr(cell, name).copy_(getattr(module, name + suffix))
        return self

    @classmethod
    def from_torch(cls, module: nn.RNN | nn.LSTM, forget_bias: float = 0.0) -> RNN:
        """A new :class:`RNN` with ``module``'s configuration, dtype, device and weights."""
        mode = _TORCH_MODES.get(getattr(module, "mode", None))
        if not isinstance(module, nn.RNNBase) or mode is None:
            raise ValueError(f"expected a torch nn.RNN or nn.LSTM, got {type(module).__name__}")
        net = cls(
            module.input_size,
            module.hidden_size,
            module.num_layers,
            cell=mode,
            bidirectional=module.bidirectional,
            batch_first=module.batch_first,
            dropout=module.dropout,
            bias=module.bias,
            forget_bias=forget_bias,
        )
        ref = next(module.parameters())
        return net.to(device=ref.device, dtype=ref.dtype).load_from_torch(module)

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}", f"cell={self.cell!r}"]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        if self.bidirectional:
            parts.append("bidirectional=True")
        if not self.batch_first:
            parts.append("batch_first=False")
        if self.dropout:
            parts.append(f"dropout={self.dropout}")
        if self.forget_bias:
            parts.append(f"forget_bias={self.forget_bias}")
        return ", ".join(parts)
