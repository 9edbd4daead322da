import pytest

from regionlab.cli.specs import SpecError, open_dataset, parse_spec


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("scenes", ("scenes", [], {})),
        ("scenes:size=128,n=20", ("scenes", [], {"size": 128, "n": 20})),
        ("coco:a.json:imgs", ("coco", ["a.json", "imgs"], {})),
        (
            "voc:D:images=images,annotations=annotations",
            ("voc", ["D"], {"images": "images", "annotations": "annotations"}),
        ),
        (
            "masks:L.txt:num_classes=5,ignore_index=0",
            ("masks", ["L.txt"], {"num_classes": 5, "ignore_index": 0}),
        ),
        ("instances:I:M", ("instances", ["I", "M"], {})),
        ("yolo:D:classes=cat|dog", ("yolo", ["D"], {"classes": ["cat", "dog"]})),
    ],
)
def test_parse(spec, expected):
    assert parse_spec(spec) == expected


def test_scenes_spec_builds_train_and_val_streams():
    tr = open_dataset("scenes:size=32,n=5")
    va = open_dataset("scenes:size=32,n=5", split="val")
    assert len(tr) == 5 and tr[0].image.shape == (3, 32, 32)
    assert not (tr[0].image == va[0].image).all()


def test_bad_option_is_clear():
    with pytest.raises(SpecError, match="not key=value"):
        parse_spec("voc:D:oops")
