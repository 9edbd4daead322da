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


def test_yaml_loads_with_flag_overrides(tmp_path):
    for name in ("c.yaml", "c.yml"):
        y = tmp_path / name
        y.write_text("epochs: 2\nbatch_size: 4\nlr: 1e-3  # YAML 1.1 reads this as a string\n")
        cfg = load_config(y, {"batch_size": 6})
        assert (cfg.epochs, cfg.batch_size, cfg.lr) == (2, 6, 1e-3)


def test_a_yaml_file_named_json_names_the_file_and_the_formats(tmp_path):
    j = tmp_path / "cfg.json"
    j.write_text("epochs: 2\nlr: 0.01\n")
    with pytest.raises(ValueError) as e:
        load_config(j)
    msg = str(e.value)
    assert "cfg.json" in msg and "malformed JSON" in msg and "YAML" in msg and ".toml" in msg
    assert e.value.__cause__ is None  # no JSONDecodeError chained into a traceback


def test_malformed_yaml_and_unknown_extension_name_the_file(tmp_path):
    y = tmp_path / "broken.yaml"
    y.write_text("epochs: [2\n")
    with pytest.raises(ValueError, match=r"broken\.yaml.*malformed YAML"):
        load_config(y)
    c = tmp_path / "cfg.ini"
    c.write_text("epochs = 2\n")
    with pytest.raises(ValueError, match=r"cfg\.ini.*unknown config format.*\.yaml"):
        load_config(c)
    s = tmp_path / "list.yaml"
    s.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match=r"list\.yaml.*table/object"):
        load_config(s)
