"""A CNN + RNN image captioner (Karpathy & Fei-Fei's multimodal RNN, or Show and Tell).

A CNN encodes the image into one vector ``v`` (global average of its last map, then a linear
layer); a recurrent decoder (:mod:`regionlab.models.recurrent`'s RNN or LSTM, ours, or torch's
GRU as a baseline) reads the caption word by word and predicts the next one. Two ways for the
image to enter, ``image_input``:

- ``"bias"`` (the paper's multimodal RNN): ``h_1 = f(W_hx x_1 + W_hh h_0 + b_h + W_hi v)``, the
  image a bias on the first step only. Implemented exactly by giving the cell the input
  ``[x_t ; v 1(t = 1)]``: its input weights then split into ``W_hx`` and ``W_hi``.
- ``"first"`` (Show and Tell): ``v`` is the first input, then START, then the words.

Training is teacher forcing: the input at step ``t`` is the true word ``t - 1``; the loss is the
cross-entropy of every next word (END included, padding excluded). Generation: greedy or beam
search (:func:`beam_search`; width 1 is greedy).

Token ids come from :class:`regionlab.data.captions.Vocabulary` (PAD 0, START 1, END 2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from regionlab.models.backbones import Normalize, build_encoder
from regionlab.ops.global_batch import global_count

PAD, START, END = 0, 1, 2


@dataclass
class CaptionSpec:
    """``vocab_size`` (with the special tokens); ``cell``: ``lstm | rnn_tanh | rnn_relu`` (ours)
    or ``gru`` (torch's, a baseline); ``image_input``: ``bias | first``; the CNN: ``backbone``
    (``small`` with ``widths``, or a torchvision name with ``pretrained`` a local state dict);
    ``embed`` / ``hidden`` sizes; ``dropout`` on the decoder's output; ``max_len`` words when
    generating."""

    vocab_size: int
    cell: str = "lstm"
    image_input: str = "bias"
    backbone: str = "small"
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    pretrained: str | None = None
    embed: int = 64
    hidden: int = 256
    dropout: float = 0.0
    max_len: int = 20

    def __post_init__(self) -> None:
        if self.cell not in ("lstm", "rnn_tanh", "rnn_relu", "gru"):
            raise ValueError(f"cell must be lstm, rnn_tanh, rnn_relu or gru, got {self.cell!r}")
        if self.image_input not in ("bias", "first"):
            raise ValueError(f"image_input must be bias or first, got {self.image_input!r}")
        if self.vocab_size < 4:
            raise ValueError(f"vocab_size {self.vocab_size} leaves no words after the specials")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CaptionOutput:
    """``logits``: ``(N, T, V)`` next-word scores under teacher forcing (``None`` without
    captions); ``loss``: mean cross-entropy over the real (non-padding) next words."""

    logits: Tensor | None = None
    loss: Tensor | None = None


def _cell(kind: str, input_size: int, hidden: int) -> nn.Module:
    from regionlab.models.recurrent import LSTMCell, RNNCell

    if kind == "lstm":
        return LSTMCell(input_size, hidden)
    if kind == "gru":
        return nn.GRUCell(input_size, hidden)
    return RNNCell(input_size, hidden, nonlinearity=kind.removeprefix("rnn_"))


class Captioner(nn.Module):
    """``forward(images float (N, 3, H, W) in [0, 1], captions int64 (N, T) = None)``: with
    ``captions`` (``START w_1 .. w_k END PAD ..``) the teacher-forced logits and loss."""

    def __init__(self, spec: CaptionSpec) -> None:
        super().__init__()
        self.spec = spec
        self.normalize = Normalize()
        self.encoder = build_encoder(spec.backbone, widths=tuple(spec.widths),
                                     pretrained=spec.pretrained)  # fmt: skip
        c = self.encoder.channels[-1]
        self.embed = nn.Embedding(spec.vocab_size, spec.embed, padding_idx=PAD)
        self.lstm = spec.cell == "lstm"
        if spec.image_input == "bias":
            self.image = nn.Linear(c, spec.hidden)
            self.cell = _cell(spec.cell, spec.embed + spec.hidden, spec.hidden)
        else:
            self.image = nn.Linear(c, spec.embed)
            self.cell = _cell(spec.cell, spec.embed, spec.hidden)
        self.drop = nn.Dropout(spec.dropout)
        self.out = nn.Linear(spec.hidden, spec.vocab_size)

    # ------------------------------------------------------------------ pieces

    def encode(self, images: Tensor) -> Tensor:
        """``(N, D)`` image vectors."""
        f = self.encoder(self.normalize(images)).features[-1]
        return self.image(f.mean((2, 3)))

    def _zeros(self, like: Tensor) -> Tensor:
        """``(N, hidden)`` zeros for ``like (N, ...)``: the batch read from the tensor, not by
        ``len``, which a traced export would freeze at the example's batch."""
        return torch.zeros_like(like[:, :1]).expand(-1, self.spec.hidden)

    def _zero_state(self, like: Tensor):
        h = self._zeros(like)
        return (h, h.clone()) if self.lstm else h

    def _h(self, state) -> Tensor:
        return state[0] if self.lstm else state

    def start(self, v: Tensor):
        """The decoder state before the first word is read, and the image term for step 1."""
        state = self._zero_state(v)
        if self.spec.image_input == "first":
            state = self.cell(v, state)
            return state, None
        return state, v

    def step(self, words: Tensor, state, image: Tensor | None):
        """One step: ``words (N,)`` in -> next-word logits ``(N, V)`` and the new state.
        ``image`` is the bias-mode image term (only at the first step, else ``None``)."""
        x = self.embed(words)
        if self.spec.image_input == "bias":
            x = torch.cat([x, image if image is not None else self._zeros(x)], 1)
        state = self.cell(x, state)
        return self.out(self.drop(self._h(state))), state

    # ------------------------------------------------------------------ training

    def forward(self, images: Tensor, captions: Tensor | None = None) -> CaptionOutput:
        if captions is None:
            return CaptionOutput()
        v = self.encode(images)
        state, image = self.start(v)
        logits = []
        for t in range(captions.shape[1] - 1):
            lg, state = self.step(captions[:, t], state, image if t == 0 else None)
            logits.append(lg)
        logits = torch.stack(logits, 1)
        target = captions[:, 1:]
        # a mean over the words of the (global) batch, PAD left out
        words = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                ignore_index=PAD, reduction="sum")  # fmt: skip
        return CaptionOutput(logits, words / global_count((target != PAD).sum()))

    # ------------------------------------------------------------------ generation

    @torch.no_grad()
    def generate(self, images: Tensor, beam: int = 1, max_len: int | None = None,
                 length_norm: float = 0.0) -> list[list[int]]:  # fmt: skip
        """Word ids (END and the specials left out) for each image; ``beam = 1`` is greedy."""
        v = self.encode(images)
        max_len = max_len or self.spec.max_len
        if beam == 1:
            return greedy(self, v, max_len)
        return [beam_search(self, v[i : i + 1], beam, max_len, length_norm)
                for i in range(len(v))]  # fmt: skip


def greedy(model: Captioner, v: Tensor, max_len: int) -> list[list[int]]:
    """The most likely next word at every step, for a batch ``v (N, D)``; at most ``max_len``
    words, without START / END."""
    state, image = model.start(v)
    words = torch.full((len(v),), START, dtype=torch.long, device=v.device)
    out = [[] for _ in range(len(v))]
    finished = [False] * len(v)
    for t in range(max_len):
        logits, state = model.step(words, state, image if t == 0 else None)
        logits[:, PAD] = logits[:, START] = float("-inf")
        words = logits.argmax(1)
        for i, w in enumerate(words.tolist()):
            if not finished[i]:
                if w == END:
                    finished[i] = True
                else:
                    out[i].append(w)
        if all(finished):
            break
    return out


def _select(state, idx: Tensor):
    return tuple(s[idx] for s in state) if isinstance(state, tuple) else state[idx]


def beam_search(model: Captioner, v: Tensor, k: int, max_len: int, length_norm: float = 0.0):
    """The best caption of one image ``v (1, D)`` by beam search of width ``k``.

    Each step extends every live beam by every word and keeps the ``k`` best by summed
    log-probability; a beam that emits END is finished. The winner maximises ``log p /
    len ** length_norm`` (``length_norm = 0``: the plain sum, so ``k = 1`` is exactly greedy
    decoding; Google NMT's ``0.7`` favours longer captions). Returns word ids without
    START / END."""
    state, image = model.start(v)
    words = torch.full((1,), START, dtype=torch.long, device=v.device)
    seqs = [[]]
    scores = v.new_zeros(1)
    done: list[tuple[float, list[int]]] = []
    for t in range(max_len + 1):
        logits, state = model.step(words, state, image if t == 0 else None)
        logp = F.log_softmax(logits.float(), -1) + scores[:, None]  # (B, V)
        logp[:, PAD] = logp[:, START] = float("-inf")
        if t == max_len:  # out of room: only END may follow
            keep = torch.full_like(logp, float("-inf"))
            keep[:, END] = logp[:, END]
            logp = keep
        top = logp.flatten().topk(min(k, logp.numel()))
        rows, cols = top.indices // logp.shape[1], top.indices % logp.shape[1]
        live_rows, live_words, live_scores = [], [], []
        for s, r, c in zip(top.values.tolist(), rows.tolist(), cols.tolist()):
            if c == END:
                n = len(seqs[r]) + 1
                done.append((s / n**length_norm, seqs[r]))
            else:
                live_rows.append(r)
                live_words.append(c)
                live_scores.append(s)
        # Stop when the best finished caption can no longer be beaten (summed log-probabilities
        # only fall; with length normalisation keep going to max_len).
        best_done = max((d[0] for d in done), default=float("-inf"))
        if not live_rows or (length_norm == 0 and best_done >= max(live_scores)):
            break
        idx = torch.tensor(live_rows, device=v.device)
        seqs = [seqs[r] + [w] for r, w in zip(live_rows, live_words)]
        words = torch.tensor(live_words, device=v.device)
        scores = torch.tensor(live_scores, device=v.device)
        state = _select(state, idx)
    return max(done, key=lambda d: d[0])[1] if done else seqs[0]
