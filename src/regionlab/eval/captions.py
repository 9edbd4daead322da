"""Caption metrics: corpus BLEU-1..4 and CIDEr-D, as the COCO caption evaluation computes them.

Both follow ``pycocoevalcap`` (``Bleu(4)`` and ``Cider``, the numbers the COCO leaderboard and
most papers report) operation for operation, so the results are the same floats, not just close:

BLEU (Papineni et al. 2002), corpus level:
    per image, clipped n-gram matches ``correct_k = sum_g min(count_cand(g), max_ref count(g))``
    and ``guess_k = max(0, len(cand) - k + 1)``; the effective reference length is the
    *closest* reference length (ties go to the shorter one). Summed over the corpus,
    ``BLEU-N = (prod_{k<=N} (correct_k + 1e-15) / (guess_k + 1e-9)) ** (1/N)``, times the
    brevity penalty ``exp(1 - r/c)`` when ``c/r < 1`` (``c`` = total candidate length, ``r`` =
    total effective reference length, computed as ``(c + 1e-15) / (r + 1e-9)``). The tiny/small
    epsilons are pycocoevalcap's: a corpus with no 4-gram match gets a BLEU-4 of about
    ``(1e-15 / guess_4 * ...) ** (1/4)``, a small positive number, not 0.

CIDEr-D (Vedantam et al. 2015), as pycocoevalcap's ``Cider``:
    n-grams ``n = 1..4`` weighted by tf-idf, ``tf * (log(N) - log(max(1, df)))``, with ``N`` the
    number of evaluated images and ``df`` the number of images whose references contain the
    n-gram (the evaluated set is its own idf corpus). Per order ``n`` and reference, the
    similarity is ``sum_g min(v_cand, v_ref) * v_ref / (|v_cand| |v_ref|)`` (clipped; 0 when a norm
    is 0), times ``exp(-delta**2 / (2 * 6**2))``. Per image: the mean over ``n``, averaged over
    the references, times 10; the corpus score is the mean over images. Like pycocoevalcap,
    ``delta`` is the difference in the number of *bigrams* (its "length" counts 2-grams), which
    equals the word-length difference except when one side has fewer than 2 words. With a single
    image ``log(N) = 0`` and every score is 0.

Strings are tokenized with :func:`regionlab.data.captions.tokenize` (the COCO tokenizer,
approximated); token lists are used as they are. Image order is that of ``references``; it only
matters for the last bit of the CIDEr-D mean (numpy's summation order), kept as pycocoevalcap's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from regionlab.data.captions import tokenize

Caption = str | Sequence[str]
NGram = tuple[str, ...]

BLEU_SMALL = 1e-9  # pycocoevalcap's epsilons (BleuScorer.compute_score)
BLEU_TINY = 1e-15


def caption_scores(
    candidates: Mapping[Hashable, Caption], references: Mapping[Hashable, Sequence[Caption]]
) -> dict[str, float]:
    """``{"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D"}`` of one candidate per image.

    ``candidates[id]`` is a caption (a str, tokenized here, or a token list); ``references[id]``
    a non-empty list of captions. Both must have the same ids.
    """
    cand, refs = _tokenized(candidates, references)
    scores = {f"BLEU-{k + 1}": s for k, s in enumerate(bleu(cand, refs, 4))}
    scores["CIDEr-D"] = cider_d(cand, refs)
    return scores


def _tokenized(
    candidates: Mapping[Hashable, Caption], references: Mapping[Hashable, Sequence[Caption]]
) -> tuple[dict[Hashable, list[str]], dict[Hashable, list[list[str]]]]:
    missing = [k for k in references if k not in candidates]
    extra = [k for k in candidates if k not in references]
    if missing or extra:
        raise ValueError(
            f"candidates and references must have the same image ids: {len(missing)} id(s) "
            f"without a candidate (e.g. {missing[:3]}), {len(extra)} without references "
            f"(e.g. {extra[:3]})"
        )
    if not references:
        raise ValueError("no images to score")
    cand: dict[Hashable, list[str]] = {}
    refs: dict[Hashable, list[list[str]]] = {}
    for k, rs in references.items():  # references' order, as pycocoevalcap iterates gts
        if isinstance(rs, str) or not isinstance(rs, Sequence) or len(rs) == 0:
            raise ValueError(f"image {k!r}: references must be a non-empty list of captions")
        refs[k] = [_tokens(r, k) for r in rs]
        cand[k] = _tokens(candidates[k], k)
    return cand, refs


def _tokens(caption: Caption, key: Hashable) -> list[str]:
    if isinstance(caption, str):
        return tokenize(caption)
    tokens = list(caption)
    if not all(isinstance(t, str) for t in tokens):
        raise TypeError(f"image {key!r}: a caption must be a str or a list of str tokens")
    # pycocoevalcap splits space-joined strings, so a token with spaces would be several words.
    return [w for t in tokens for w in t.split()]


def _ngrams(tokens: Sequence[str], n: int) -> Counter[NGram]:
    """n-gram counts for orders 1..n, in first-seen order within each order (order 1 first)."""
    counts: Counter[NGram] = Counter()
    for k in range(1, n + 1):
        for i in range(len(tokens) - k + 1):
            counts[tuple(tokens[i : i + k])] += 1
    return counts


# --------------------------------------------------------------------------- BLEU


def bleu(
    candidates: Mapping[Hashable, Sequence[str]],
    references: Mapping[Hashable, Sequence[Sequence[str]]],
    n: int = 4,
) -> list[float]:
    """Corpus BLEU-1..n of tokenized captions (same ids in both), as pycocoevalcap's Bleu(n)."""
    correct = [0] * n
    guess = [0] * n
    cand_len = 0
    ref_len = 0
    for key, refs in references.items():
        cand = candidates[key]
        max_ref: dict[NGram, int] = {}
        for ref in refs:
            for g, c in _ngrams(ref, n).items():
                if c > max_ref.get(g, 0):
                    max_ref[g] = c
        for g, c in _ngrams(cand, n).items():
            correct[len(g) - 1] += min(max_ref.get(g, 0), c)
        for k in range(n):
            guess[k] += max(0, len(cand) - k)
        # closest reference length; a tie goes to the shorter reference
        ref_len += min((abs(len(r) - len(cand)), len(r)) for r in refs)[1]
        cand_len += len(cand)

    scores = []
    product = 1.0
    for k in range(n):
        product *= (correct[k] + BLEU_TINY) / (guess[k] + BLEU_SMALL)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (cand_len + BLEU_TINY) / (ref_len + BLEU_SMALL)
    if ratio < 1:
        penalty = math.exp(1 - 1 / ratio)
        scores = [s * penalty for s in scores]
    return scores


# --------------------------------------------------------------------------- CIDEr-D


def cider_d(
    candidates: Mapping[Hashable, Sequence[str]],
    references: Mapping[Hashable, Sequence[Sequence[str]]],
    n: int = 4,
    sigma: float = 6.0,
) -> float:
    """Corpus CIDEr-D of tokenized captions (same ids in both), as pycocoevalcap's Cider."""
    return float(
        np.mean(np.array(list(cider_d_per_image(candidates, references, n, sigma).values())))
    )


def cider_d_per_image(
    candidates: Mapping[Hashable, Sequence[str]],
    references: Mapping[Hashable, Sequence[Sequence[str]]],
    n: int = 4,
    sigma: float = 6.0,
) -> dict[Hashable, float]:
    """CIDEr-D of each image (the corpus score is their mean), in ``references``' order."""
    ref_counts = {k: [_ngrams(r, n) for r in refs] for k, refs in references.items()}
    doc_freq: Counter[NGram] = Counter()
    for counts in ref_counts.values():
        doc_freq.update({g for c in counts for g in c})
    log_n = np.log(float(len(ref_counts)))

    def tfidf(counts: Counter[NGram]) -> tuple[list[dict[NGram, float]], list[float], int]:
        vec: list[dict[NGram, float]] = [{} for _ in range(n)]
        sq = [0.0] * n
        bigrams = 0  # pycocoevalcap's "length": the number of 2-grams
        for g, tf in counts.items():
            k = len(g) - 1
            v = float(tf) * (log_n - np.log(max(1.0, doc_freq.get(g, 0.0))))
            vec[k][g] = v
            sq[k] += pow(v, 2)
            if k == 1:
                bigrams += tf
        return vec, [np.sqrt(s) for s in sq], bigrams

    penalty_denominator = 2 * sigma**2
    out: dict[Hashable, float] = {}
    for key, counts in ref_counts.items():
        vec_c, norm_c, len_c = tfidf(_ngrams(candidates[key], n))
        total = np.zeros(n)
        for ref in counts:
            vec_r, norm_r, len_r = tfidf(ref)
            delta = float(len_c - len_r)
            sims = np.zeros(n)
            for k in range(n):
                dot = sims[k]
                for g, v in vec_c[k].items():
                    r = vec_r[k].get(g, 0.0)
                    dot += min(v, r) * r  # clipped: a repeated n-gram counts at most as often
                if norm_c[k] != 0 and norm_r[k] != 0:
                    dot /= norm_c[k] * norm_r[k]
                sims[k] = dot * math.e ** (-(delta**2) / penalty_denominator)
            total += sims
        out[key] = float(np.mean(total) / len(counts) * 10.0)
    return out
