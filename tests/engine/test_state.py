import pytest

from regionlab.engine.state import RunState


def test_round_trip_and_defaults_for_missing_keys():
    s = RunState(epoch=2, batch=1, step=7, elapsed=3.5, best={"miou": 0.4}, grown=1)
    assert RunState.from_dict(s.to_dict()) == s
    assert RunState.from_dict({"step": 3}) == RunState(step=3)
    d = s.to_dict()
    d["best"]["miou"] = 0.0  # to_dict copies: the run's state is not aliased by a checkpoint
    assert s.best == {"miou": 0.4}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"epoch": -1}, "epoch must be an integer >= 0"),
        ({"batch": 1.5}, "batch must be an integer"),
        ({"step": True}, "step must be an integer"),
        ({"elapsed": "1"}, "elapsed must be a number"),
        ({"best": [1]}, "best must be a dict"),
        ({"stepp": 1}, "unknown run state key.*stepp"),
    ],
)
def test_bad_values_are_refused_naming_the_source(data, message):
    with pytest.raises(ValueError, match=f"x.pt: .*{message}"):
        RunState.from_dict(data, source="x.pt")
    with pytest.raises(ValueError, match="must be a dict"):
        RunState.from_dict([1], source="x.pt")


def test_a_nan_metric_holds_best_only_until_a_number_comes():
    from regionlab.engine.state import improves

    nan = float("nan")
    assert improves(nan, None, "ap")  # the first evaluation is kept, even NaN
    assert improves(0.1, {"ap": nan}, "ap")  # then any number beats it
    assert not improves(nan, {"ap": nan}, "ap") and not improves(nan, {"ap": 0.1}, "ap")
    assert improves(0.2, {"ap": 0.1}, "ap") and not improves(0.1, {"ap": 0.1}, "ap")  # ties: older
    assert not improves(None, None, "ap")
