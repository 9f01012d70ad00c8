"""Morris indices from a real sweep: a parameter the model ignores scores exactly zero, one it uses does not."""

import textwrap

import pandas as pd
import pytest

from experiments import sensitivity
from experiments.sweep import SweepError, load_sweep

# With festival_boost = 0 the festival's length cannot matter; with one seed at every design point (common
# random numbers) its elementary effects are then exactly zero, while RedNote's appeal drives downloads.
MORRIS = """
name = "tiny-morris"
design = "morris"
samples = 3
replications = 1
root_seed = 3
common_random_numbers = true
[options]
agents = 300
[fixed]
festival_boost = 0.0
[parameters]
rednote_appeal = [3.5, 6.0]
festival_days = { low = 5, high = 30 }
"""


def test_morris_sweep_and_indices(tmp_path):
    config = tmp_path / "morris.toml"
    config.write_text(textwrap.dedent(MORRIS))
    out = tmp_path / "analysis"
    code = sensitivity.main(["--config", str(config), "--out", str(out), "--sweep", str(tmp_path / "sweep"),
                             "--workers", "2", "--quiet"])
    assert code == 0
    for name in ("indices.csv", "indices.md", "indices.png", "ranking.csv",
                 "outcomes_vs_parameters/cumulative_downloads_2025_06_30.png"):
        assert (out / name).stat().st_size > 0, name
    table = pd.read_csv(out / "indices.csv")
    assert set(table["parameter"]) == {"rednote_appeal", "festival_days"}
    assert (table.loc[table["parameter"] == "festival_days", "mu_star"] == 0).all()
    appeal = table[table["parameter"] == "rednote_appeal"].set_index("outcome")
    assert appeal.loc["cumulative_downloads_2025_06_30", "mu_star"] > 0
    assert appeal.loc["peak_daily_downloads", "mu"] > 0, "more appeal, more downloads"
    ranks = pd.read_csv(out / "ranking.csv")
    assert list(ranks["parameter"]) == ["rednote_appeal", "festival_days"]
    assert "| 1 | `rednote_appeal` |" in (out / "indices.md").read_text()

    # The analysis of the finished sweep alone gives the same table, and never overwrites without asking.
    again = tmp_path / "again"
    assert sensitivity.main(["--sweep", str(tmp_path / "sweep"), "--out", str(again)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(again / "indices.csv"), table)
    assert sensitivity.main(["--sweep", str(tmp_path / "sweep"), "--out", str(again)]) == 2


def test_indices_need_a_morris_or_sobol_design(tmp_path):
    config = tmp_path / "lhs.toml"
    config.write_text(MORRIS.replace('design = "morris"', 'design = "lhs"'))
    sweep = load_sweep(config)
    with pytest.raises(SweepError, match="design 'morris' or 'sobol'"):
        sensitivity.analyse(sweep, pd.DataFrame())
    assert sensitivity.main(["--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists() and not (tmp_path / "o-sweep").exists()


def test_sobol_indices_from_a_saltelli_sweep(tmp_path):
    config = tmp_path / "sobol.toml"
    config.write_text(textwrap.dedent(MORRIS).replace('design = "morris"', 'design = "sobol"')
                      .replace("samples = 3", "samples = 4").replace("agents = 300", "agents = 1000")
                      .replace("[fixed]", "[fixed]\nend = 2025-02-28"))
    out = tmp_path / "analysis"
    assert sensitivity.main(["--config", str(config), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert len(load_sweep(config).plan()) == 4 * (2 + 2)
    table = pd.read_csv(out / "indices.csv").set_index(["outcome", "parameter"])
    assert set(table["method"]) == {"sobol"}
    assert (table.xs("festival_days", level="parameter")["ST"] == 0).all()
    assert table.loc[("peak_rednote_dau", "rednote_appeal"), "ST"] > 0
    # Runs that end in February cannot say anything about June: those outcomes are left out, and said so.
    assert "cumulative_downloads_2025_06_30" not in table.index.get_level_values("outcome")
    assert "cumulative_downloads_2025_06_30: left out" in (out / "indices.md").read_text()
