"""Caption text: the COCO-style tokenizer, the vocabulary and the captions file reader."""

import json

import pytest
import torch

from regionlab.data.captions import PUNCTUATIONS, Vocabulary, read_caption_file, tokenize
from regionlab.data.errors import DataError

# --------------------------------------------------------------------------- tokenizer


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("A plane floating on top of a lake.", "a plane floating on top of a lake"),
        ("Nuts in a canister; carrots, celery!", "nuts in a canister carrots celery"),
        ("Is it a cat? Yes: a cat...", "is it a cat yes a cat"),
        # clitics split as PTB does and kept (not in PUNCTUATIONS)
        ("A man's dog isn't here", "a man 's dog is n't here"),
        ("They're sure I'm ok, we've won", "they 're sure i 'm ok we 've won"),
        ("It can't, won't, cannot", "it ca n't wo n't can not"),
        ("A dog on it\u2019s roof", "a dog on it 's roof"),  # curly apostrophe
        ("the dogs' toys at 5 o'clock", "the dogs toys at 5 o'clock"),
        # hyphenated words and numbers stay whole; lone dashes go
        ("A boy in a white t-shirt - a frost-covered field -- nice", None),
        ("A clock that says 8:25.", "a clock that says 8:25"),
        ("1,000 birds and 3.5 cats", "1,000 birds and 3.5 cats"),
        # acronyms and known abbreviations keep their periods
        ("The U.S. flag at 9 a.m.", "the u.s. flag at 9 a.m."),
        ("Mr. Smith waves.", "mr. smith waves"),
        # quotes go; brackets become PTB escapes that survive the (upper-case) filter
        ('A sign that says "stop"', "a sign that says stop"),
        ("A cat (black)", "a cat -lrb- black -rrb-"),
        ("salt and/or pepper", "salt and\\/or pepper"),
        ("A  man\nriding   a horse ", "a man riding a horse"),
        ("", ""),
        ("...!?", ""),
    ],
)
def test_tokenize_examples(text, tokens):
    if tokens is None:
        tokens = "a boy in a white t-shirt a frost-covered field nice"
    assert tokenize(text) == tokens.split()


def test_tokenize_never_returns_punctuation_or_spaces():
    text = "Wow!!! A -- B ; C : D , E . F ? `x' ``y'' - z..."
    out = tokenize(text)
    assert out == ["wow", "a", "b", "c", "d", "e", "f", "x", "y", "z"]
    assert not set(out) & PUNCTUATIONS
    assert all(t and not any(c.isspace() for c in t) for t in out)


def test_tokenize_rejects_non_str():
    with pytest.raises(TypeError, match="str"):
        tokenize(["a", "b"])


# --------------------------------------------------------------------------- vocabulary

CAPTIONS = [
    "A cat on a mat.",
    "A dog on a mat.",
    "The cat sleeps.",
    "A zebra.",
]


def test_vocabulary_min_count_unk_and_order():
    vocab = Vocabulary.build(CAPTIONS, min_count=2)
    # counts: a 5, cat 2, mat 2, on 2; dog/the/sleeps/zebra once -> UNK
    assert vocab.words == ["<pad>", "<start>", "<end>", "<unk>", "a", "cat", "mat", "on"]
    assert (vocab.PAD_ID, vocab.START_ID, vocab.END_ID, vocab.UNK_ID) == (0, 1, 2, 3)
    assert len(vocab) == 8
    assert "zebra" not in vocab and "cat" in vocab
    assert vocab.count("a") == 5 and vocab.count("zebra") == 0
    assert vocab.encode("A zebra on a mat") == [1, 4, 3, 7, 4, 6, 2]
    assert vocab.encode(["a", "zebra"], add_start_end=False) == [4, 3]
    assert Vocabulary.build(CAPTIONS, min_count=2, max_size=2).words[4:] == ["a", "cat"]


def test_vocabulary_is_deterministic():
    a = Vocabulary.build(CAPTIONS)
    b = Vocabulary.build(list(reversed(CAPTIONS)))
    assert a.words == b.words
    # a (5), then the ties at 2 and at 1, each broken alphabetically
    assert a.words[4:] == ["a", "cat", "mat", "on", "dog", "sleeps", "the", "zebra"]


def test_vocabulary_encode_decode_round_trip():
    vocab = Vocabulary.build(CAPTIONS)
    tokens = tokenize("The dog sleeps on a mat.")
    ids = vocab.encode(tokens)
    assert ids[0] == vocab.START_ID and ids[-1] == vocab.END_ID
    assert vocab.decode(ids) == tokens
    assert vocab.decode(torch.tensor(ids + [0, 0])) == tokens  # a padded tensor row
    assert vocab.decode(vocab.encode("a unicorn")) == ["a", "<unk>"]


def test_decode_stops_at_end_and_drops_pad_start():
    vocab = Vocabulary.build(CAPTIONS)
    cat, mat = vocab.token_to_id("cat"), vocab.token_to_id("mat")
    assert vocab.decode([1, 0, cat, 0, 2, mat, mat]) == ["cat"]
    assert vocab.decode([2, cat]) == []
    assert vocab.decode([]) == []
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.decode([cat, len(vocab)])


def test_vocabulary_dict_round_trip_through_weights_only_checkpoint(tmp_path):
    vocab = Vocabulary.build(CAPTIONS, min_count=2)
    data = vocab.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain JSON data
    path = tmp_path / "ckpt.pt"
    torch.save({"vocab": data}, path)
    loaded = Vocabulary.from_dict(torch.load(path, weights_only=True)["vocab"])
    assert loaded == vocab
    assert loaded.words == vocab.words and loaded.min_count == 2
    assert loaded.encode("a cat") == vocab.encode("a cat")


def test_vocabulary_from_bad_dict():
    data = Vocabulary.build(CAPTIONS).to_dict()
    with pytest.raises(ValueError, match="format"):
        Vocabulary.from_dict({"words": []})
    with pytest.raises(ValueError, match="specials"):
        Vocabulary.from_dict({**data, "specials": ["<unk>", "<pad>", "<start>", "<end>"]})
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary.from_dict({**data, "words": ["a", "a"], "counts": [1, 1]})


def test_vocabulary_from_no_captions_names_the_source():
    with pytest.raises(DataError, match="train_caps.json.*no captions") as info:
        Vocabulary.build([], source="train_caps.json")
    assert info.value.path == "train_caps.json"


# --------------------------------------------------------------------------- captions file


def _write(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _coco_captions():
    return {
        "images": [{"id": 7, "file_name": "7.jpg"}, {"id": 3, "file_name": "3.jpg"}],
        "annotations": [
            {"image_id": 3, "id": 1, "caption": "A dog. "},
            {"image_id": 7, "id": 2, "caption": "A cat."},
            {"image_id": 3, "id": 3, "caption": "Another dog."},
        ],
    }


def test_read_caption_file(tmp_path):
    caps = read_caption_file(_write(tmp_path / "captions.json", _coco_captions()))
    assert caps == {7: ["A cat."], 3: ["A dog.", "Another dog."]}
    assert list(caps) == [7, 3]  # the order of 'images'


def test_empty_caption_file_names_the_file(tmp_path):
    path = tmp_path / "captions_empty.json"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="captions_empty.json.*empty") as info:
        read_caption_file(path)
    assert info.value.path == str(path)
    no_caps = _write(tmp_path / "captions_none.json", {"images": [], "annotations": []})
    with pytest.raises(DataError, match="captions_none.json.*no captions"):
        read_caption_file(no_caps)


def test_non_utf8_caption_file_names_the_file(tmp_path):
    path = tmp_path / "captions_latin1.json"
    path.write_bytes('{"images": [], "annotations": [{"caption": "caf\xe9"}]}'.encode("latin-1"))
    with pytest.raises(DataError, match="captions_latin1.json.*UTF-8") as info:
        read_caption_file(path)
    assert info.value.path == str(path)


def _set(data, dotted, value):
    *head, last = dotted
    target = data
    for key in head:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ((("images",), KeyError), "missing or non-list 'images'"),
        ((("annotations",), {"a": 1}), "missing or non-list 'annotations'"),
        ((("images", 1, "id"), "3"), r"images\[1\].*integer 'id'"),
        ((("images", 1, "id"), 7), "duplicate image id 7"),
        ((("annotations", 0, "caption"), KeyError), r"annotations\[0\], id 1.*string, got None"),
        ((("annotations", 1, "caption"), 5), "caption must be a string, got 5"),
        ((("annotations", 2, "caption"), "   "), r"annotations\[2\], id 3.*caption is empty"),
        ((("annotations", 1, "image_id"), 99), "unknown image id 99"),
    ],
)
def test_bad_caption_file_raises(tmp_path, edit, message):
    path = _write(tmp_path / "captions_bad.json", _set(_coco_captions(), *edit))
    with pytest.raises(DataError, match=message) as info:
        read_caption_file(path)
    assert info.value.path == str(path)


def test_malformed_and_missing_caption_file(tmp_path):
    path = tmp_path / "captions_broken.json"
    path.write_text('{"images": [', encoding="utf-8")
    with pytest.raises(DataError, match="captions_broken.json.*malformed JSON"):
        read_caption_file(path)
    with pytest.raises(DataError, match="does not exist"):
        read_caption_file(tmp_path / "nope.json")
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DataError, match="top level"):
        read_caption_file(path)
