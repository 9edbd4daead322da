"""Caption metrics: BLEU and CIDEr-D on hand-computed cases, and against pycocoevalcap."""

import math
import random
from pathlib import Path

import pytest

from regionlab.data.captions import read_caption_file, tokenize
from regionlab.eval.captions import bleu, caption_scores, cider_d, cider_d_per_image

KEYS = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D"]
COCO_MINI = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "coco-mini"


def _split(d):
    return {k: (v.split() if isinstance(v, str) else [r.split() for r in v]) for k, v in d.items()}


# --------------------------------------------------------------------------- hand-computed


def test_bleu_hand_computed():
    # Image 1: candidate "a cat on the mat" (5 words); references of 6 words each.
    #   1-grams: a cat on the mat all in some reference            -> 5 / 5
    #   2-grams: a cat (ref 2), on the, the mat (ref 1); cat on no   -> 3 / 4
    #   3-grams: on the mat (ref 1); a cat on, cat on the no         -> 1 / 3
    #   4-grams: a cat on the, cat on the mat: none                   -> 0 / 2
    #   closest reference length 6.
    # Image 2: candidate "a dog" (2); references of 3 and 1 words, both 1 away: the tie goes
    #   to the shorter one, 1 (choosing 3 would give a brevity penalty exp(1 - 9/7) = 0.75).
    #   1-grams 2 / 2, 2-grams 1 / 1, no 3- or 4-grams (guess 0).
    # Corpus: correct = [7, 4, 1, 0], guess = [7, 5, 3, 2], c = 7 = r: no brevity penalty
    #   (up to the epsilons: ratio = (7 + 1e-15) / (7 + 1e-9)).
    #   BLEU-1 = 7/7 = 1, BLEU-2 = (1 * 4/5)^(1/2), BLEU-3 = (4/5 * 1/3)^(1/3),
    #   BLEU-4 = (4/15 * (0 + 1e-15) / 2)^(1/4) ~ 1.07e-4: pycocoevalcap's tiny epsilon, not 0.
    cand = {1: "a cat on the mat", 2: "a dog"}
    refs = {1: ["the cat is on the mat", "a cat sat on a mat"], 2: ["a dog runs", "dog"]}
    got = bleu(*map(_split, (cand, refs)))
    assert got[0] == pytest.approx(1.0, rel=1e-9)
    assert got[1] == pytest.approx(math.sqrt(0.8), rel=1e-9)
    assert got[2] == pytest.approx((0.8 / 3) ** (1 / 3), rel=1e-9)
    assert got[3] == pytest.approx((0.8 / 3 * 1e-15 / 2) ** 0.25, rel=1e-6)
    # With the shortest candidate only: c = 5 < r = 6, brevity penalty exp(1 - 6/5).
    one = bleu(*map(_split, ({1: cand[1]}, {1: refs[1]})))
    assert one[0] == pytest.approx(math.exp(1 - 6 / 5), rel=1e-9)
    assert one[1] == pytest.approx(math.exp(1 - 6 / 5) * math.sqrt(3 / 4), rel=1e-9)


def test_cider_d_hand_computed():
    # Two images, one reference each: "a cat" and "a dog". N = 2, so with L = ln 2 the tf-idf
    # weight of an n-gram is tf * (L - ln max(1, df)): "a" (df 2) weighs 0, every other n-gram
    # (df 1, or 0 for n-grams no reference has) weighs L per occurrence.
    refs = {1: ["a cat"], 2: ["a dog"]}
    # Image 1, "a cat sat" vs "a cat":
    #   1-grams (a 0, cat L, sat L) . (a 0, cat L) = L^2, norms sqrt(2) L and L -> 1/sqrt(2)
    #   2-grams (a cat L, cat sat L) . (a cat L) = L^2                          -> 1/sqrt(2)
    #   3-grams: the reference has none (norm 0) -> 0; 4-grams -> 0
    #   length penalty: 2 bigrams vs 1, delta = 1 -> exp(-1 / (2 * 6^2))
    #   score = 10 * mean(1/sqrt 2, 1/sqrt 2, 0, 0) * exp(-1/72) = 2.5 sqrt(2) exp(-1/72)
    # Image 2, "a cat" vs "a dog": the only shared n-gram, "a", weighs 0 -> 0.
    per_image = cider_d_per_image(*map(_split, ({1: "a cat sat", 2: "a cat"}, refs)))
    assert per_image[1] == pytest.approx(2.5 * math.sqrt(2) * math.exp(-1 / 72), rel=1e-12)
    assert per_image[2] == 0.0
    assert cider_d(*map(_split, ({1: "a cat sat", 2: "a cat"}, refs))) == pytest.approx(
        1.25 * math.sqrt(2) * math.exp(-1 / 72), rel=1e-12
    )
    # Clipping: "cat cat" vs "a cat": 1-grams (cat 2L) . (cat L) would give cosine 1, but the
    #   candidate's 2L is clipped to the reference's L: L^2 / (2L * L) = 1/2; 2-grams 0; delta 0.
    #   score = 10 * mean(1/2, 0, 0, 0) = 1.25.
    # Perfect 2-word match "a dog": 1-grams 1, 2-grams 1, 3/4-grams 0 -> 10 * 2/4 = 5.
    per_image = cider_d_per_image(*map(_split, ({1: "cat cat", 2: "a dog"}, refs)))
    assert per_image == pytest.approx({1: 1.25, 2: 5.0}, rel=1e-12)


def test_cider_d_perfect_unique_match_is_ten():
    # Captions of 4+ words sharing no word with any other image: every order has cosine 1.
    refs = {
        1: ["one two three four"],
        2: ["five six seven eight nine"],
        3: ["ten eleven twelve thirteen"],
    }
    cand = {k: v[0] for k, v in refs.items()}
    assert cider_d(*map(_split, (cand, refs))) == pytest.approx(10.0, rel=1e-12)
    scores = caption_scores(cand, refs)
    assert list(scores) == KEYS
    assert scores["BLEU-4"] == pytest.approx(1.0, rel=1e-9)


def test_caption_scores_tokenizes_strings():
    refs = {1: ["A cat, on a mat!"], 2: ["A dog's bone."]}
    cand = {1: "a cat on a mat", 2: ["a", "dog", "'s", "bone"]}
    tokenized = caption_scores({1: tokenize("A CAT on a mat."), 2: cand[2]}, refs)
    assert caption_scores(cand, refs) == tokenized
    assert tokenized["BLEU-1"] == pytest.approx(1.0, rel=1e-9)


def test_caption_scores_bad_input():
    with pytest.raises(ValueError, match="same image ids"):
        caption_scores({1: "a"}, {2: ["a"]})
    with pytest.raises(ValueError, match="non-empty list"):
        caption_scores({1: "a"}, {1: []})
    with pytest.raises(ValueError, match="no images"):
        caption_scores({}, {})


# --------------------------------------------------------------------------- vs pycocoevalcap


def _pycocoevalcap(cand, refs):
    """pycocoevalcap's Bleu(4) and Cider on tokenized captions (space-joined, as it takes)."""
    pytest.importorskip(
        "pycocoevalcap", reason="pycocoevalcap (the reference implementation) is not installed"
    )
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    gts = {k: [" ".join(r) for r in rs] for k, rs in refs.items()}
    res = {k: [" ".join(cand[k])] for k in refs}
    b, _ = Bleu(4).compute_score(gts, res, verbose=0)
    c, _ = Cider().compute_score(gts, res)
    return dict(zip(KEYS, [*b, float(c)]))


def _assert_same(cand, refs):
    ours = caption_scores(cand, refs)
    theirs = _pycocoevalcap(cand, refs)
    # The same operations in the same order: the floats are identical, not just close.
    diffs = {k: abs(ours[k] - theirs[k]) for k in KEYS}
    assert ours == theirs, f"ours {ours}\ntheirs {theirs}\n|diff| {diffs}"
    return ours


def _synthetic(seed=0, images=30):
    rng = random.Random(seed)
    words = "a the man woman dog cat on in with red small sitting riding table street".split()
    cand, refs = {}, {}
    for i in range(images):
        base = [rng.choice(words) for _ in range(rng.randint(5, 10))]
        rs = []
        for _ in range(5):
            r = [w if rng.random() > 0.3 else rng.choice(words) for w in base]
            if rng.random() < 0.5:
                del r[rng.randrange(len(r))]
            if rng.random() < 0.5:
                r.insert(rng.randrange(len(r) + 1), rng.choice(words))
            rs.append(r)
        refs[100 + 7 * i] = rs
        kind = i % 6
        if kind == 0:
            c = list(rs[0])  # a reference
        elif kind == 1:
            c = [w if rng.random() > 0.2 else rng.choice(words) for w in base]
        elif kind == 2:
            c = [rng.choice(words) for _ in range(rng.randint(3, 12))]  # unrelated
        elif kind == 3:
            c = [] if i == 3 else base[:2]  # empty and 2-word candidates
        elif kind == 4:
            c = base[:1]  # one word: 0 bigrams, pycocoevalcap's "length"
        else:
            c = [base[0]] * 5  # repetitions: clipping
        cand[100 + 7 * i] = c
    return cand, refs


def test_matches_pycocoevalcap_on_synthetic_captions():
    cand, refs = _synthetic()
    ours = _assert_same(cand, refs)
    assert 0 < ours["BLEU-4"] < ours["BLEU-1"] < 1 and ours["CIDEr-D"] > 0


def test_matches_pycocoevalcap_on_small_sets():
    cand, refs = _synthetic(seed=1, images=2)
    _assert_same(cand, refs)
    _assert_same({5: ["a", "b"]}, {5: [["a", "b"], ["c"]]})  # one image: CIDEr-D 0


@pytest.mark.skipif(
    not (COCO_MINI / "annotations").is_dir(),
    reason=f"COCO-mini captions not found at {COCO_MINI} (shared datasets folder absent)",
)
@pytest.mark.parametrize("split", ["val2017", "train2017"])
def test_matches_pycocoevalcap_on_coco_mini_captions(split):
    path = COCO_MINI / "annotations" / f"captions_{split}.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    caps = read_caption_file(path)
    refs = {k: [tokenize(c) for c in v[:5]] for k, v in caps.items()}
    ids = list(refs)
    # the first reference of the next image as the candidate: a weak, unrelated caption
    cand = {k: refs[ids[(i + 1) % len(ids)]][0] for i, k in enumerate(ids)}
    _assert_same(cand, refs)
    # and the image's own first reference: a strong one
    _assert_same({k: refs[k][0] for k in ids}, refs)
