"""The parameter file's defaults are the calibration's result, value for value."""

import tomllib
from pathlib import Path

import pytest

from model.params import Params

BEST = Path(__file__).resolve().parent.parent / "data" / "calibration" / "best_params.toml"


def test_defaults_are_the_calibrated_values():
    best = tomllib.loads(BEST.read_text(encoding="utf-8"))
    defaults = Params()
    assert best["params"], "no calibrated parameters"
    for name, value in best["params"].items():
        assert getattr(defaults, name) == pytest.approx(value, rel=1e-12), name
    assert best["provenance"]["n_agents"] == defaults.n_agents
    assert "experiments.calibrate" in best["provenance"]["command"]


def test_every_parameter_has_unit_range_and_meaning():
    for name in Params.names():
        spec = Params.spec(name)
        assert spec["unit"] and spec["meaning"], name
        assert spec["low"] <= spec["default"] <= spec["high"], name
