"""Caption text: a COCO-evaluation-style tokenizer, a word vocabulary and the captions file reader.

Tokenizer
---------
The COCO caption evaluation (``pycocoevalcap``) runs Stanford CoreNLP 3.4.1's ``PTBTokenizer``
(Java) with ``-preserveLines -lowerCase`` on every caption and then drops the tokens in its
``PUNCTUATIONS`` list. :func:`tokenize` is a pure-Python approximation of that pipeline. It follows
these PTB rules:

- lowercase; words split off punctuation: ``"A man, riding."`` -> ``a man riding``;
- clitics split as PTB does and *kept* (they are not in ``PUNCTUATIONS``): ``"don't"`` ->
  ``do n't``, ``"can't"`` -> ``ca n't``, ``"man's"`` -> ``man 's``, ``"they're"`` -> ``they 're``
  (also ``'m 'd 've 'll``); ``o'clock``/``d'``/``l'`` words stay whole; a possessive ``dogs'``
  loses its bare ``'`` (a punctuation token);
- assimilations split: ``cannot`` -> ``can not``, ``gonna`` -> ``gon na``, ``gotta``, ``wanna``,
  ``gimme``, ``lemme``;
- hyphenated words stay whole (``t-shirt``, ``frost-covered``, ``2-3``); a lone ``-``/``--`` is
  dropped; numbers keep their ``.``/``,``/``:`` (``3.5``, ``1,000``, ``8:25``);
- letters joined by ``.``/``!``/``?`` stay one token (``www.example.com``); acronyms keep their
  periods (``u.s.``, ``a.m.``) and so do a few titles/abbreviations (``mr.``, ``dr.``, ``st.``,
  ``etc.``, ...);
- ``"``, `````` and quote-like ``'`` become PTB quote tokens and are dropped, as are
  ``. , : ; ! ? ...``; curly quotes count as their ASCII forms, ``…`` as ``...``, en/em dashes as
  ``--``;
- brackets become ``-lrb- -rrb- -lsb- -rsb- -lcb- -rcb-`` and are *kept*: PTB writes ``-LRB-``,
  ``-lowerCase`` lowercases it, and the (upper-case) ``PUNCTUATIONS`` list then no longer matches;
- ``/`` and ``*`` are escaped as ``\\/`` and ``\\*`` (the PTB3 escaping of that CoreNLP version),
  so ``and/or`` -> ``and\\/or``; other symbols (``$ % # & + =`` ...) are single, kept tokens.

Known differences from the Java tokenizer (none occurs in typical COCO captions): PTB decides some
abbreviations from the case of the following word (``"J. Smith"``, a sentence-final ``"b."``), we
use a fixed list (a single letter before ``.`` is never an abbreviation here); PTB keeps
upper-case ``AT&T``-style words and ``'90s`` whole, we split them; PTB deletes characters it
cannot tokenize (some symbols, emoji), we keep each as its own token; Python's ``str.lower`` and
Java's ``toLowerCase(Locale.ENGLISH)`` may disagree on a few non-ASCII letters.

Vocabulary
----------
:class:`Vocabulary` maps words to ids with fixed special ids ``PAD=0, START=1, END=2, UNK=3``;
words follow in (count descending, word) order. :meth:`Vocabulary.to_dict` is plain JSON data
(lists, dicts, str, int), so it can be stored in a checkpoint loaded with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from regionlab.data.checks import load_json
from regionlab.data.errors import DataError

# The tokens pycocoevalcap's PTBTokenizer wrapper removes after tokenization (exactly its list).
PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-"]
    + [".", "?", "!", ",", ":", "-", "--", "...", ";"]
)

# Abbreviations that keep their final period (a subset of CoreNLP's lists).
_ABBREVIATIONS = (
    "mrs|mr|ms|dr|prof|jr|sr|st|mt|ave|capt|col|gen|gov|lt|rev|sgt|sen|rep|"
    "etc|vs|inc|ltd|corp|jan|feb|mar|apr|aug|sept|sep|oct|nov|dec"
)
_ALNUM = r"[^\W_]"  # a Unicode letter or digit
_LETTER = r"[^\W\d_]"
# One part of a word: letters/digits, with '.'/','/':' between digits (3.5, 1,000, 8:25) and
# '.'/'!'/'?' before a letter (www.example.com).
_UNIT = rf"{_ALNUM}+(?:(?:(?<=\d)[.,:](?=\d)|[.!?](?={_LETTER})){_ALNUM}+)*"
_ELISION = rf"(?:[dol]'(?={_ALNUM}))?"  # o'clock, d'avignon, l'oreal
_TOKEN_RE = re.compile(
    rf"""
    (?P<acronym>(?:{_LETTER}\.){{2,}})(?!{_ALNUM})                       # u.s. a.m.
  | (?P<abbrev>(?:{_ABBREVIATIONS})\.)(?!{_ALNUM})                       # mr. etc.
  | (?P<nt_stem>{_ALNUM}+)(?=n't(?!{_ALNUM}))                            # do|n't
  | (?P<nt>n't)(?!{_ALNUM})
  | (?P<clitic>'(?:s|m|d|re|ve|ll))(?!{_ALNUM})                          # 's 're ...
  | (?P<word>(?:[-+](?=\d))?{_ELISION}{_UNIT}(?:[-_/]{_ELISION}{_UNIT})*)  # t-shirt, 2-3, and/or
  | (?P<ellipsis>\.\.\.+)
  | (?P<dashes>--+)
  | (?P<other>\S)
    """,
    re.VERBOSE,
)
_NORMALIZE = str.maketrans(
    {
        "\u2018": "'",  # curly single quotes
        "\u2019": "'",
        "\u201b": "'",
        "\u00b4": "'",
        "\u201c": '"',  # curly double quotes
        "\u201d": '"',
        "\u2026": "...",  # ellipsis
        "\u2013": "--",  # en / em dash
        "\u2014": "--",
        "\u2010": "-",  # Unicode hyphens
        "\u2011": "-",
        "\u00a0": " ",
        "\n": " ",  # pycocoevalcap joins a caption's lines
        "\r": " ",
        "\t": " ",
    }
)
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_ASSIMILATIONS = {
    "cannot": ("can", "not"),
    "gonna": ("gon", "na"),
    "gotta": ("got", "ta"),
    "wanna": ("wan", "na"),
    "gimme": ("gim", "me"),
    "lemme": ("lem", "me"),
}


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens of a caption, punctuation removed, as the COCO caption evaluation.

    ``tokenize("A man's dog, (running)!") == ["a", "man", "'s", "dog", "-lrb-", "running",
    "-rrb-"]``. See the module docstring for the rules and where they differ from the Java PTB
    tokenizer.
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a str, got {type(text).__name__}")
    tokens: list[str] = []
    for m in _TOKEN_RE.finditer(text.translate(_NORMALIZE).lower()):
        kind, tok = m.lastgroup, m.group()
        if kind == "word":
            if tok in _ASSIMILATIONS:
                tokens.extend(_ASSIMILATIONS[tok])
                continue
            tok = tok.replace("/", "\\/")
        elif kind == "ellipsis":
            tok = "..."
        elif kind == "dashes":
            tok = "--"
        elif kind == "other":
            if tok == '"':
                tok = "''"  # PTB makes it `` or ''; both are dropped
            elif tok in _BRACKETS:
                tok = _BRACKETS[tok]
            elif tok in "/*":
                tok = "\\" + tok
        if tok not in PUNCTUATIONS:
            tokens.append(tok)
    return tokens


def _as_tokens(caption: str | Sequence[str]) -> list[str]:
    if isinstance(caption, str):
        return tokenize(caption)
    tokens = list(caption)
    if not all(isinstance(t, str) for t in tokens):
        raise TypeError("a tokenized caption must be a sequence of str")
    return tokens


# --------------------------------------------------------------------------- vocabulary


class Vocabulary:
    """Word <-> id mapping with fixed special tokens.

    Ids: ``PAD_ID=0``, ``START_ID=1``, ``END_ID=2``, ``UNK_ID=3``, then the words in (count
    descending, word ascending) order. Build one with :meth:`build` from training captions.
    """

    PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
    PAD_ID, START_ID, END_ID, UNK_ID = 0, 1, 2, 3
    SPECIALS = (PAD, START, END, UNK)
    FORMAT = "regionlab.vocabulary"
    VERSION = 1

    def __init__(
        self, words: Sequence[str] = (), counts: Sequence[int] | None = None, min_count: int = 1
    ) -> None:
        words = list(words)
        if counts is None:
            counts = [0] * len(words)
        counts = list(counts)
        if len(counts) != len(words):
            raise ValueError(f"{len(words)} words but {len(counts)} counts")
        bad = [w for w in words if not isinstance(w, str) or not w or w in self.SPECIALS]
        if bad:
            raise ValueError(f"invalid vocabulary word {bad[0]!r} (empty, not a str or special)")
        if len(set(words)) != len(words):
            dup = next(w for w, c in Counter(words).items() if c > 1)
            raise ValueError(f"duplicate vocabulary word {dup!r}")
        self.min_count = int(min_count)
        self._itos: list[str] = [*self.SPECIALS, *words]
        self._stoi: dict[str, int] = {w: i for i, w in enumerate(self._itos)}
        self._counts: list[int] = [int(c) for c in counts]

    @classmethod
    def build(
        cls,
        captions: Iterable[str | Sequence[str]],
        min_count: int = 1,
        *,
        max_size: int | None = None,
        source: str | Path = "<captions>",
    ) -> Vocabulary:
        """A vocabulary of the words seen at least ``min_count`` times in ``captions``.

        ``captions`` are strings (tokenized with :func:`tokenize`) or token lists. Rarer words
        are left out and encode as ``UNK``. ``max_size`` caps the number of (non-special) words,
        keeping the most frequent. An empty ``captions`` raises :class:`DataError` naming
        ``source`` (the file the captions came from).
        """
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counts: Counter[str] = Counter()
        n = 0
        for caption in captions:
            counts.update(_as_tokens(caption))
            n += 1
        if n == 0:
            raise DataError(source, "no captions to build a vocabulary from")
        kept = sorted(
            ((w, c) for w, c in counts.items() if c >= min_count and w not in cls.SPECIALS),
            key=lambda wc: (-wc[1], wc[0]),
        )
        if max_size is not None:
            kept = kept[:max_size]
        return cls([w for w, _ in kept], [c for _, c in kept], min_count=min_count)

    # ------------------------------------------------------------------ mapping

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, word: object) -> bool:
        return word in self._stoi

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} ids, min_count={self.min_count})"

    @property
    def words(self) -> list[str]:
        """All tokens in id order, specials first."""
        return list(self._itos)

    def count(self, word: str) -> int:
        """How often ``word`` was seen when building (0 for specials and unknown words)."""
        i = self._stoi.get(word)
        return self._counts[i - len(self.SPECIALS)] if i is not None and i >= 4 else 0

    def token_to_id(self, word: str) -> int:
        return self._stoi.get(word, self.UNK_ID)

    def id_to_token(self, index: int) -> str:
        index = int(index)
        if not 0 <= index < len(self._itos):
            raise ValueError(f"token id {index} is outside the vocabulary (0..{len(self) - 1})")
        return self._itos[index]

    def encode(self, tokens: str | Sequence[str], add_start_end: bool = True) -> list[int]:
        """Ids of ``tokens`` (a str is tokenized first); unknown words -> ``UNK_ID``."""
        ids = [self._stoi.get(t, self.UNK_ID) for t in _as_tokens(tokens)]
        return [self.START_ID, *ids, self.END_ID] if add_start_end else ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids`` (ints or a 1-D tensor): stops at ``END``, drops ``PAD`` and ``START``.

        ``UNK`` decodes as ``"<unk>"``; an id outside the vocabulary raises ``ValueError``.
        """
        out: list[str] = []
        for i in ids:
            i = int(i)
            if i == self.END_ID:
                break
            if i in (self.PAD_ID, self.START_ID):
                continue
            out.append(self.id_to_token(i))
        return out

    # ------------------------------------------------------------------ storage

    def to_dict(self) -> dict[str, Any]:
        """Plain data (str, int, lists, dicts) for JSON or a ``weights_only`` checkpoint."""
        return {
            "format": self.FORMAT,
            "version": self.VERSION,
            "specials": list(self.SPECIALS),
            "min_count": self.min_count,
            "words": self._itos[len(self.SPECIALS) :],
            "counts": list(self._counts),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Vocabulary:
        """Inverse of :meth:`to_dict`; a dict of another layout raises ``ValueError``."""
        if not isinstance(data, dict) or data.get("format") != cls.FORMAT:
            raise ValueError(f"not a {cls.FORMAT} dict (missing or wrong 'format')")
        if data.get("version") != cls.VERSION:
            raise ValueError(f"unsupported vocabulary version {data.get('version')!r}")
        if list(data.get("specials", ())) != list(cls.SPECIALS):
            raise ValueError(
                f"vocabulary specials {data.get('specials')!r} differ from {list(cls.SPECIALS)}"
            )
        words, counts = data.get("words"), data.get("counts")
        if not isinstance(words, list) or not isinstance(counts, list):
            raise ValueError("vocabulary dict needs 'words' and 'counts' lists")
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            raise ValueError("vocabulary 'counts' must be integers")
        return cls(words, counts, min_count=int(data.get("min_count", 1)))


# --------------------------------------------------------------------------- captions file


def read_caption_file(path: str | Path) -> dict[int, list[str]]:
    """Read a COCO ``captions_*.json`` file: ``{image_id: [caption, ...]}``.

    Keys are the image ids that have captions, in the order of the file's ``images``; each list
    holds that image's captions (stripped, untokenized) in file order. Every problem raises
    :class:`DataError` naming the file (and the entry): a missing, empty, non-UTF-8 or malformed
    file, missing ``images``/``annotations`` lists, an image without an integer ``id`` or a
    duplicate id, a caption that is missing, not a string or blank, a caption naming an unknown
    image id, or a file with no captions at all.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(path, "captions file is empty")
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError(path, "top level must be a JSON object")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise DataError(path, f"missing or non-list {key!r}")

    order: dict[int, int] = {}
    for i, img in enumerate(data["images"]):
        where = f"images[{i}]"
        if not isinstance(img, dict) or not _is_int(img.get("id")):
            raise DataError(path, "image entry needs an integer 'id'", where)
        if img["id"] in order:
            raise DataError(path, f"duplicate image id {img['id']}", where)
        order[img["id"]] = i

    found: dict[int, list[str]] = {}
    for i, ann in enumerate(data["annotations"]):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict):
            raise DataError(path, "caption entry must be an object", where)
        if "id" in ann:
            where += f", id {ann['id']!r}"
        caption = ann.get("caption")
        if not isinstance(caption, str):
            raise DataError(path, f"caption must be a string, got {caption!r}", where)
        if not caption.strip():
            raise DataError(path, "caption is empty", where)
        image_id = ann.get("image_id")
        if not _is_int(image_id) or image_id not in order:
            raise DataError(path, f"caption names unknown image id {image_id!r}", where)
        found.setdefault(image_id, []).append(caption.strip())
    if not found:
        raise DataError(path, "file has no captions ('annotations' is empty)")
    return {k: found[k] for k in sorted(found, key=order.__getitem__)}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
