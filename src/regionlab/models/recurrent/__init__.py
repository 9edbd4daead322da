"""Recurrent networks written from their equations: Elman RNN and LSTM cells, and a stacked,
optionally bidirectional sequence module over them that matches ``torch.nn.RNN`` /
``torch.nn.LSTM`` (weights copy across with :meth:`RNN.from_torch`)."""

from .cells import LSTMCell, RNNCell
from .layers import CELLS, RNN

__all__ = ["CELLS", "LSTMCell", "RNN", "RNNCell"]
