import pytest

from regionlab.engine.config import TrainConfig, load_config


def test_json_and_toml_load_with_flag_overrides(tmp_path):
    j = tmp_path / "c.json"
    j.write_text('{"epochs": 3, "lr": 0.01}')
    assert load_config(j, {"lr": 0.5}).lr == 0.5
    t = tmp_path / "c.toml"
    t.write_text("epochs = 2\nbatch_size = 4\n")
    cfg = load_config(t)
    assert (cfg.epochs, cfg.batch_size) == (2, 4)


def test_unknown_key_is_an_error_naming_file_and_key(tmp_path):
    j = tmp_path / "bad.json"
    j.write_text('{"epochs": 3, "learning_rate": 0.01}')
    with pytest.raises(ValueError, match=r"bad\.json.*learning_rate"):
        load_config(j)


def test_malformed_config_names_the_file(tmp_path):
    j = tmp_path / "broken.json"
    j.write_text('{"epochs": ')
    with pytest.raises(ValueError, match=r"broken\.json.*malformed"):
        load_config(j)


def test_invalid_values_are_refused():
    with pytest.raises(ValueError, match="epochs or minutes"):
        TrainConfig.from_dict({"epochs": None})
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig.from_dict({"optimizer": "lamb"})
