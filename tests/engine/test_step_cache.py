"""A timed run's count is remembered per setup on the machine: the second run of a command
trains the first's schedule from its first step (the clock never read) and ends with the same
weights, on a machine now much faster or slower; another setup measures again; a seed shares
its model's count; an unreadable file or ``off`` means measuring."""

from __future__ import annotations

import json

from test_budget import FakeClock, _cfg, _data, _same_weights, _task

from regionlab.engine import trainer
from regionlab.engine.checkpoint import load_checkpoint
from regionlab.engine.step_cache import VAR
from regionlab.engine.trainer import fit


def _run(tmp_path, name, clock, monkeypatch, record=None, **kw):
    monkeypatch.setattr(trainer, "clock", clock)
    tr, va = _data()
    r = fit(_task(), tr, va, _cfg(minutes=1.0, **kw), tmp_path / name, log=lambda *_: None,
            remember_steps=True, record=record)  # fmt: skip
    schedule = json.loads((tmp_path / name / "run.json").read_text())["schedule"]
    return r, load_checkpoint(tmp_path / name / "last.pt"), schedule


def test_the_second_run_of_a_setup_repeats_the_first(tmp_path, monkeypatch):
    first, a, s1 = _run(tmp_path, "first", FakeClock(1.0), monkeypatch)
    assert not s1.get("remembered") and s1["seconds_per_step"] is not None
    for name, per_step in (("faster", 0.4), ("slower", 2.5)):
        again, b, s2 = _run(tmp_path, name, FakeClock(per_step), monkeypatch)
        assert again.steps == first.steps and _same_weights(a, b)
        assert s2["remembered"] and s2["decay_start"] == s1["decay_start"]
        assert s2["seconds_per_step"] is None  # nothing measured
    other, _, s3 = _run(tmp_path, "seed1", FakeClock(0.4), monkeypatch, seed=1)
    assert other.steps == first.steps and s3["remembered"]  # a seed shares its model's count


def test_another_setup_measures_its_own(tmp_path, monkeypatch):
    _run(tmp_path, "b4", FakeClock(1.0), monkeypatch)
    r, _, s = _run(tmp_path, "b2", FakeClock(0.5), monkeypatch, batch_size=2)
    assert not s.get("remembered") and r.steps > 60  # twice the speed: more steps


def test_off_or_an_unreadable_file_means_measuring(tmp_path, monkeypatch):
    monkeypatch.setenv(VAR, "off")
    _run(tmp_path, "one", FakeClock(1.0), monkeypatch)
    _, _, s = _run(tmp_path, "two", FakeClock(1.0), monkeypatch)
    assert not s.get("remembered")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    monkeypatch.setenv(VAR, str(broken))
    _, _, s = _run(tmp_path, "three", FakeClock(1.0), monkeypatch)
    assert not s.get("remembered") and json.loads(broken.read_text())  # measured, rewritten
    _, _, s = _run(tmp_path, "four", FakeClock(1.0), monkeypatch)
    assert s["remembered"]


def test_a_flag_that_changes_the_step_is_another_setup(tmp_path, monkeypatch):
    """Colour jitter (say) changes a step's work but not the task's saved description: the
    command's flags are part of the setup, all but the seed and the output folder."""
    flags = {"colour": 0.3, "seed": 0, "out": "runs/a"}
    _run(tmp_path, "jitter", FakeClock(1.0), monkeypatch, record={"flags": flags})
    same = {**flags, "seed": 1, "out": "runs/b"}
    _, _, s = _run(tmp_path, "seed1", FakeClock(0.5), monkeypatch, record={"flags": same})
    assert s["remembered"]
    plain = {**flags, "colour": 0.0}
    r, _, s = _run(tmp_path, "plain", FakeClock(0.5), monkeypatch, record={"flags": plain})
    assert not s.get("remembered") and r.steps > 60  # measured: twice the speed, more steps


def test_another_chip_with_the_same_core_count_is_another_setup(monkeypatch):
    from regionlab.engine import step_cache
    from regionlab.engine.config import TrainConfig

    cfg = TrainConfig(minutes=1.0)
    key = step_cache.setup_key({"m": 1}, cfg, 10, 1, "cuda")
    monkeypatch.setattr(step_cache, "hardware", lambda device: {"cpu_model": "", "gpu": "T4"})
    assert step_cache.setup_key({"m": 1}, cfg, 10, 1, "cuda") != key


def test_two_runs_remembering_at_once_both_keep_their_entry(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from regionlab.engine.step_cache import StepCache

    path = tmp_path / "counts.json"
    with ThreadPoolExecutor(8) as pool:  # each put reads, adds its key, rewrites the file
        list(pool.map(lambda k: StepCache(path, f"k{k}").put(10 + k, 4, 3), range(32)))
    assert {StepCache(path, f"k{k}").get()["steps"] for k in range(32)} == set(range(10, 42))
