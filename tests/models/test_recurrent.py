"""The RNN / LSTM written from their equations equal torch's, on padded batches too."""

import math

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from regionlab.models.recurrent import RNN, LSTMCell, RNNCell

pytestmark = pytest.mark.usefixtures("one_thread")
TOL = dict(rtol=0, atol=1e-10)
N, T, D_IN, H = 3, 6, 4, 5
LENGTHS = torch.tensor([4, 6, 1])  # unsorted, with a full-length and a length-1 sequence


def torch_module(cell: str, **kw) -> nn.RNNBase:
    if cell == "lstm":
        return nn.LSTM(D_IN, H, batch_first=True, **kw).double()
    return nn.RNN(D_IN, H, nonlinearity=cell.removeprefix("rnn_"), batch_first=True, **kw).double()


def run_torch(module, x, lengths, hx):
    if lengths is None:
        return module(x, hx)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, state = module(packed, hx)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], state


def states(state) -> tuple:
    return state if isinstance(state, tuple) else (state,)


def close(a, b) -> None:
    torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_sequence_module_equals_torch_with_gradients(cell, num_layers, bidirectional, padded):
    torch.manual_seed(0)
    theirs = torch_module(cell, num_layers=num_layers, bidirectional=bidirectional)
    ours = RNN.from_torch(theirs)
    assert ours.cell == cell and next(ours.parameters()).dtype == torch.float64
    lengths = LENGTHS if padded else None
    d = 2 if bidirectional else 1
    x = torch.randn(N, T, D_IN, dtype=torch.float64)
    h0 = torch.randn(num_layers * d, N, H, dtype=torch.float64)
    hx = (h0, torch.randn_like(h0)) if cell == "lstm" else h0
    # Random weights for a loss over the real steps only and the final states.
    w_out = torch.randn(N, T, d * H, dtype=torch.float64)
    if padded:
        w_out[torch.arange(T)[None, :] >= LENGTHS[:, None]] = 0.0
    w_state = [torch.randn_like(h0) for _ in states(hx)]

    results = []
    for module in (theirs, ours):
        xi = x.clone().requires_grad_(True)
        hxi = tuple(s.clone().requires_grad_(True) for s in states(hx))
        hx_arg = hxi if cell == "lstm" else hxi[0]
        if module is ours:
            out, state = ours(xi, hx_arg, lengths=lengths)
        else:
            out, state = run_torch(theirs, xi, lengths, hx_arg)
        loss = (out * w_out).sum() + sum((s * w).sum() for s, w in zip(states(state), w_state))
        params = list(module.parameters())
        grads = torch.autograd.grad(loss, [xi, *hxi, *params])
        results.append((out, states(state), grads))

    (out_t, st_t, g_t), (out_o, st_o, g_o) = results
    assert out_o.shape == (N, T, d * H)
    close(out_o, out_t)
    for a, b in zip(st_o, st_t):
        assert a.shape == (num_layers * d, N, H)
        close(a, b)
    # Same number of parameters, and ours are in torch's order (per layer: direction, then
    # weight_ih, weight_hh, bias_ih, bias_hh), so the gradients line up one to one.
    assert len(g_o) == len(g_t)
    for a, b in zip(g_o, g_t):
        close(a, b)
    if padded:
        pad = torch.arange(T)[None, :] >= LENGTHS[:, None]
        assert (out_o[pad] == 0).all()
        assert (g_o[0][pad] == 0).all()  # padding has no influence on anything


def test_parameter_names_map_onto_torch():
    theirs = nn.LSTM(D_IN, H, num_layers=2, bidirectional=True)
    ours = RNN(D_IN, H, num_layers=2, cell="lstm", bidirectional=True)
    names = [n for n, _ in theirs.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    ours_shapes = [p.shape for p in ours.parameters()]
    assert ours_shapes == [p.shape for p in theirs.parameters()]
    assert ours.cells[1].weight_ih.shape == (4 * H, D_IN)
    assert ours.cells[2].weight_ih.shape == (4 * H, 2 * H)  # layer 1 reads both directions
    ours.load_from_torch(theirs)
    assert torch.equal(ours.cells[3].bias_hh, theirs.bias_hh_l1_reverse)


def test_time_major_layout_and_lengths_as_a_list():
    torch.manual_seed(1)
    theirs = nn.RNN(D_IN, H, batch_first=False).double()
    ours = RNN.from_torch(theirs)
    assert not ours.batch_first
    x = torch.randn(T, N, D_IN, dtype=torch.float64)
    close(ours(x)[0], theirs(x)[0])
    out, h = ours(x, lengths=[2, 6, 3])  # a plain list works too
    assert out.shape == (T, N, H) and (out[2:, 0] == 0).all()
    close(h[0, 0], out[1, 0])


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_equals_torch(nonlinearity):
    torch.manual_seed(2)
    theirs = nn.RNNCell(D_IN, H, nonlinearity=nonlinearity).double()
    ours = RNNCell(D_IN, H, nonlinearity).double()
    ours.load_state_dict(theirs.state_dict())  # identical names and shapes
    x, h = torch.randn(N, D_IN, dtype=torch.float64), torch.randn(N, H, dtype=torch.float64)
    close(ours(x, h), theirs(x, h))
    close(ours(x), theirs(x))
    close(ours(x[0], h[0]), theirs(x[0], h[0]))  # unbatched


def test_lstm_cell_equals_torch_and_forget_bias_is_a_bias_shift():
    torch.manual_seed(3)
    theirs = nn.LSTMCell(D_IN, H).double()
    ours = LSTMCell(D_IN, H).double()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(N, D_IN, dtype=torch.float64)
    hc = (torch.randn(N, H, dtype=torch.float64), torch.randn(N, H, dtype=torch.float64))
    for a, b in zip(ours(x, hc), theirs(x, hc)):
        close(a, b)
    shifted = LSTMCell(D_IN, H, forget_bias=1.0).double()
    shifted.load_state_dict(theirs.state_dict())
    with torch.no_grad():
        theirs.bias_ih[H : 2 * H] += 1.0  # rows [i, f, g, o]: f is the second block
    for a, b in zip(shifted(x, hc), theirs(x, hc)):
        close(a, b)


def test_initialisation_matches_torch():
    torch.manual_seed(4)
    cell = LSTMCell(3, 16)
    bound = 1 / math.sqrt(16)
    for p in cell.parameters():
        assert p.abs().max() <= bound and p.abs().max() > 0.8 * bound
    assert {n for n, _ in cell.named_parameters()} == {
        "weight_ih",
        "weight_hh",
        "bias_ih",
        "bias_hh",
    }
    no_bias = RNNCell(3, 4, bias=False)
    assert no_bias.bias_ih is None and len(list(no_bias.parameters())) == 2
    # Same seed, same draws as torch's own cell.
    torch.manual_seed(5)
    ours = RNNCell(3, 4)
    torch.manual_seed(5)
    theirs = nn.RNNCell(3, 4)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(6)
    theirs = torch_module("lstm", num_layers=2, dropout=0.5)
    ours = RNN.from_torch(theirs).eval()
    x = torch.randn(N, T, D_IN, dtype=torch.float64)
    close(ours(x)[0], theirs.eval()(x)[0])
    ours.train()
    assert not torch.allclose(ours(x)[0], ours(x)[0])


def test_errors_are_clear():
    net = RNN(D_IN, H)
    x = torch.randn(N, T, D_IN)
    with pytest.raises(ValueError, match="3-D input"):
        net(x[0])
    with pytest.raises(ValueError, match="features"):
        net(torch.randn(N, T, D_IN + 1))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 6\]"):
        net(x, lengths=torch.tensor([0, 2, 3]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 6\]"):
        net(x, lengths=torch.tensor([7, 2, 3]))
    with pytest.raises(ValueError, match="one per sequence"):
        net(x, lengths=torch.tensor([2, 3]))
    with pytest.raises(ValueError, match="integers"):
        net(x, lengths=torch.tensor([2.0, 3.0, 1.0]))
    with pytest.raises(ValueError, match="initial state"):
        net(x, torch.zeros(2, N, H))
    with pytest.raises(ValueError, match="pair"):
        RNN(D_IN, H, cell="lstm")(x, torch.zeros(1, N, H))
    with pytest.raises(ValueError, match="unknown cell 'gru'"):
        RNN(D_IN, H, cell="gru")
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        RNNCell(D_IN, H, "sigmoid")
    with pytest.raises(ValueError, match="forget_bias"):
        RNN(D_IN, H, forget_bias=1.0)
    with pytest.raises(ValueError, match="configuration mismatch"):
        RNN(D_IN, H, cell="rnn_relu").load_from_torch(nn.RNN(D_IN, H))
    with pytest.raises(ValueError, match="nn.RNN or nn.LSTM"):
        RNN.from_torch(nn.GRU(D_IN, H))
    with pytest.raises(ValueError, match="input of shape"):
        RNNCell(D_IN, H)(torch.randn(N, T, D_IN))
