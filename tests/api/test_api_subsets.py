"""``SPEC:subset=FILE``: the samples a subset file names, from the stream it was drawn from;
a file that does not fit the data is refused by name."""

from __future__ import annotations

import json

import pytest
import torch

from regionlab.api.specs import SpecError, open_dataset, with_option
from regionlab.api.subsets import SubsetError, SubsetFile, read_subset, write_subset


def test_a_subset_names_samples_of_its_own_stream(tmp_path):
    path = write_subset(tmp_path / "s" / "sub.json", SubsetFile("train", 12, (3, 7), "two"))
    assert read_subset(path) == SubsetFile("train", 12, (3, 7), "two")
    spec = with_option("scenes:size=32,n=12", "subset", str(path))
    assert spec == f"scenes:size=32,n=12,subset={path}"
    full = open_dataset("scenes:size=32,n=12", split="train")
    # opened as --val opens data, still the training stream's samples 3 and 7
    sub = open_dataset(spec, split="val")
    assert len(sub) == 2
    assert torch.equal(sub[1].image, full[7].image) and torch.equal(sub[0].image, full[3].image)


def test_with_option_on_a_spec_without_options_and_refusals():
    assert with_option("voc:DIR", "subset", "/a/b.json") == "voc:DIR:subset=/a/b.json"
    with pytest.raises(SpecError, match="already has subset"):
        with_option("voc:DIR:subset=x", "subset", "/y")
    with pytest.raises(SpecError, match="cannot hold"):
        with_option("voc:DIR", "subset", "/a,b.json")


def test_subset_files_that_do_not_fit_are_refused(tmp_path):
    path = write_subset(tmp_path / "sub.json", SubsetFile("train", 12, (0, 1)))
    with pytest.raises(SubsetError, match=r"indexes 12 samples, but the data has 10"):
        open_dataset(f"scenes:size=32,n=10,subset={path}")
    bad = tmp_path / "bad.json"
    for data, message in [
        ({"format": 1, "split": "train", "size": 5, "indices": [5]}, "outside the 5 samples"),
        ({"format": 1, "split": "train", "size": 5, "indices": [1, 1]}, "appears twice"),
        ({"format": 1, "split": "test", "size": 5, "indices": [1]}, "split must be"),
        ({"format": 1, "split": "train", "indices": [1]}, "missing or bad entry"),
        ([1, 2], "not a regionlab subset file"),
    ]:
        bad.write_text(json.dumps(data))
        with pytest.raises(SubsetError, match=message) as e:
            read_subset(bad)
        assert str(bad) in str(e.value)
