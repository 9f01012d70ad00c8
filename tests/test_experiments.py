"""The article reproduction, calibration and ablation commands, end to end at a tiny size."""

import tomllib

import numpy as np
import pandas as pd
import pytest

from batch.outcomes import SURGE_SHAPE
from experiments import ablations, calibrate, check, reproduce_article
from model.observations import load_observations
from model.params import Params
from model.targets import evaluate


def test_reproduce_article_writes_report_and_resumes(tmp_path, capsys):
    out = tmp_path / "article"
    code = reproduce_article.main(["--seeds", "2", "--agents", "300", "--out", str(out), "--workers", "1", "--quiet"])
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "targets.csv")
    # The exit status is the check: 0 exactly when every median is inside its band (and 80% of seeds pass).
    assert code == (0 if table["passed"].all() and "ALL TARGETS MET" in printed else 1)
    report = (out / "report.md").read_text()
    for key in table["target"]:
        assert key in report and key in printed
    for name in ("cumulative_downloads.png", "monthly_growth.png", "surge_week.png", "users_by_state.png",
                 "return_migration.png", "dual_share.png", "config.toml"):
        assert (out / name).stat().st_size > 0
    runs = sorted(out.glob("runs/seed-*.parquet"))
    assert len(runs) == 2
    stamps = [p.stat().st_mtime_ns for p in runs]
    # The ensemble median is computed from the runs' own target values; a target a run cannot measure
    # (NaN, e.g. no creator ever migrated) makes the median NaN, which fails: never a silent pass.
    frames = [pd.read_parquet(p) for p in runs]
    values = pd.DataFrame([{r.target.key: r.value for r in evaluate(f)} for f in frames])
    medians = {key: float(np.median(values[key])) for key in values}
    assert table.set_index("target")["median"].to_dict() == pytest.approx(medians, nan_ok=True)
    assert "--first-seed 0" in report
    # Asking again reuses the saved runs.
    reproduce_article.main(["--seeds", "2", "--agents", "300", "--out", str(out), "--workers", "1", "--quiet"])
    assert [p.stat().st_mtime_ns for p in sorted(out.glob("runs/seed-*.parquet"))] == stamps


def test_reproduce_article_bad_input(tmp_path, capsys):
    assert reproduce_article.main(["--seeds", "0", "--out", str(tmp_path / "x")]) == 2
    assert reproduce_article.main(["--agents", "1", "--out", str(tmp_path / "x")]) == 2
    assert "n_agents" in capsys.readouterr().err
    assert reproduce_article.main(["--first-seed", "-1", "--out", str(tmp_path / "x")]) == 2
    assert "--first-seed" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_calibration_resumes_and_saves_best(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text("[network_pull]\nlow = 1.0\nhigh = 12.0\n[defiance_weight]\nlow = 0.0\nhigh = 8.0\n")
    out = tmp_path / "cal"
    args = ["--space", str(space), "--seeds", "1", "--agents", "300", "--out", str(out)]
    assert calibrate.main(args + ["--trials", "3"]) == 0
    history = pd.read_csv(out / "history.csv")
    assert len(history) == 3
    assert calibrate.main(args + ["--trials", "5"]) == 0      # resumes: two more trials, not five
    history = pd.read_csv(out / "history.csv")
    assert len(history) == 5
    best = tomllib.loads((out / "best_params.toml").read_text())
    assert set(best["params"]) == {"network_pull", "defiance_weight"}
    assert best["provenance"]["best_distance"] == pytest.approx(history["value"].min())
    assert "experiments.calibrate" in best["provenance"]["command"]
    # Other settings in the same folder are refused rather than mixed in.
    assert calibrate.main(args[:2] + ["--seeds", "2", "--agents", "300", "--out", str(out), "--trials", "6"]) == 2


def test_calibration_starts_where_asked_and_records_its_objective(tmp_path, capsys):
    space = tmp_path / "space.toml"
    space.write_text("[network_pull]\nlow = 1.0\nhigh = 12.0\n[defiance_weight]\nlow = 0.0\nhigh = 8.0\n")
    start = tmp_path / "start.toml"
    start.write_text("[params]\nnetwork_pull = 2.5\n")
    out = tmp_path / "cal"
    args = ["--space", str(space), "--seeds", "2", "--agents", "300", "--workers", "1", "--out", str(out)]
    assert calibrate.main(args + ["--trials", "3", "--start", str(start), "--objective", "mean",
                                  "--sigma", "0.001"]) == 0
    settings = tomllib.loads((out / "calibration.toml").read_text())
    assert settings["objective"] == "mean" and settings["start"] == {"network_pull": 2.5}
    # The first trial is the start itself (the fixed parameter at its default); then CMA-ES searches
    # around it, here with a tiny step (in a range 11 wide).
    history = pd.read_csv(out / "history.csv")
    assert history["params_network_pull"].iloc[0] == 2.5
    assert history["params_defiance_weight"].iloc[0] == Params().defiance_weight
    assert history["params_network_pull"].to_numpy() == pytest.approx(2.5, abs=0.1)
    # Resuming with another objective would mix two objectives in one study: refused.
    assert calibrate.main(args + ["--trials", "4", "--start", str(start), "--sigma", "0.001"]) == 2
    # A start may only name free parameters, and only numbers.
    start.write_text("[params]\nclustering = 0.3\n")
    assert calibrate.main(args + ["--trials", "1", "--start", str(start), "--out", str(tmp_path / "c2")]) == 2
    assert "clustering" in capsys.readouterr().err
    assert calibrate.main(args[:-2] + ["--trials", "1", "--start", str(tmp_path / "none.toml"),
                                       "--out", str(tmp_path / "c3")]) == 2
    assert "start file not found" in capsys.readouterr().err
    assert not (tmp_path / "c2").exists() and not (tmp_path / "c3").exists()


def test_envelope_objective_is_the_distance_of_the_seeds_extremes():
    from model.params import Params
    from model.targets import distance, envelope_distance
    base = Params().replace(n_agents=300)
    both = calibrate.Objective(base, [0, 1], kind="envelope")
    mean = calibrate.Objective(base, [0, 1], kind="mean")
    value, results = both.evaluate({"network_pull": 3.0})
    assert value == pytest.approx(envelope_distance(results))
    assert mean.evaluate({"network_pull": 3.0})[0] == pytest.approx(np.mean([distance(r) for r in results]))
    assert value >= min(distance(r) for r in results)
    with pytest.raises(calibrate.CalibrationError):
        calibrate.Objective(base, [0], kind="median")


@pytest.mark.parametrize("text,needle", [
    ("[network_pul]\nlow = 1.0\nhigh = 2.0\n", "network_pul"),
    ("[network_pull]\nlow = 3.0\nhigh = 2.0\n", "inverted"),
    ("[network_pull]\nlow = -1.0\nhigh = 2.0\n", "admissible"),
    ("[network_pull]\nlow = 1.0\n", "low and high"),
    # These were raw TypeErrors:
    ("network_pull = 3\n", "must be a table [network_pull]"),
    ('[network_pull]\nlow = "a"\nhigh = 2.0\n', "low = 'a' is not a number"),
    ('[network_pull]\nlow = 1.0\nhigh = 2.0\nlog = "yes"\n', "must be true or false"),
])
def test_calibration_space_errors(tmp_path, capsys, text, needle):
    space = tmp_path / "space.toml"
    space.write_text(text)
    assert calibrate.main(["--space", str(space), "--out", str(tmp_path / "cal")]) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "cal").exists()


def test_ablations_table(tmp_path, capsys):
    out = tmp_path / "abl"
    assert ablations.main(["--seeds", "1", "--agents", "300", "--only", "no_defiance", "no_dual_use",
                           "--out", str(out), "--workers", "1", "--quiet"]) == 0
    medians = pd.read_csv(out / "ablations.csv", index_col=0)
    assert list(medians.columns) == ["nothing removed", "defiance (M2)", "dual use (D3)"]
    assert "dual use (D3)" in (out / "needs.md").read_text()
    # Without dual use nobody keeps both platforms after February.
    assert (out / "ablations.png").stat().st_size > 0
    assert ablations.main(["--only", "no_such_thing", "--out", str(out)]) == 2


def test_ablations_against_an_observation_file(tmp_path, capsys):
    """With --observations the targets are the file's figures (as experiments.check reads them) and --end
    cuts the runs; an end before the last observed day is refused before any run."""
    out = tmp_path / "abl-observed"
    argv = ["--config", "scenarios/observed-2025-01.toml", "--observations", "data/observations/january-2025.toml",
            "--end", "2025-01-31", "--seeds", "1", "--agents", "400", "--only", "no_time_split",
            "--out", str(out), "--workers", "1", "--quiet"]
    assert ablations.main(argv) == 0
    medians = pd.read_csv(out / "ablations.csv", index_col=0)
    assert list(medians.index) == load_observations("data/observations/january-2025.toml").ids
    assert list(medians.columns) == ["nothing removed", "a day's time shared"]
    frame = pd.read_parquet(next((out / "no_time_split" / "runs").rglob("*.parquet")))
    assert frame.index.max() == pd.Timestamp("2025-01-31")
    too_short = [*argv[:5], "2025-01-10", *argv[6:-6], "--out", str(tmp_path / "short"), "--workers", "1", "--quiet"]
    assert ablations.main(too_short) == 2
    assert not (tmp_path / "short").exists()


def test_ablations_table_gives_a_peak_day_as_a_date(tmp_path, capsys):
    """A peak_date figure's median is a day number inside the model; ablations.csv, which a person reads,
    gives it as the date (2025-01-19), not as days since 1970 (20107.0)."""
    out = tmp_path / "abl-peak"
    argv = ["--config", "scenarios/observed-2025-01.toml", "--observations",
            "data/observations/late-january-2025.toml", "--end", "2025-02-28", "--seeds", "1", "--agents", "400",
            "--only", "no_news_echo", "--out", str(out), "--workers", "1", "--quiet"]
    assert ablations.main(argv) == 0
    medians = pd.read_csv(out / "ablations.csv", index_col=0, dtype=str)
    peak = medians.loc["similarweb.rednote_dau.peak_day"]
    for value in peak:
        assert pd.Timestamp(value).year == 2025, value           # a date such as 2025-01-19
    assert float(medians.loc["similarweb.tiktok_dau.dec31", "nothing removed"]) > 1e6   # figures stay numbers


def test_check_against_observations_reports_each_figure_and_resumes(tmp_path, capsys):
    out = tmp_path / "check"
    argv = ["--observations", "data/observations/january-2025.toml", "--seeds", "2", "--agents", "1000",
            "--out", str(out), "--workers", "1", "--quiet"]
    code = check.main(argv)
    assert code in (0, 1)                        # 1: a median misses a figure (a check for scripts)
    table = pd.read_csv(out / "observations.csv")
    assert list(table["observation"]) == load_observations("data/observations/january-2025.toml").ids
    assert table["seeds_meeting"].between(0, 1).all()
    assert (code == 0) == bool(table["met"].all())
    # The median's miss, scored as the calibrations score it: 0 exactly when a band is met, within two sds
    # when a figure with an sd is.
    observations = load_observations("data/observations/january-2025.toml")
    for row in table.itertuples():
        if observations[row.observation].band is not None:
            assert (row.miss_sds == 0) == row.met, row
        else:
            assert row.met == (abs(row.miss_sds) <= 2.0) or abs(abs(row.miss_sds) - 2.0) < 0.01, row
    shape = pd.read_csv(out / "shape.csv")
    assert len(shape) == len(SURGE_SHAPE)
    assert "13-14 January cohort" in (out / "report.md").read_text()
    runs = sorted((out / "runs").rglob("*.parquet"))
    assert len(runs) == 2
    mtimes = [p.stat().st_mtime_ns for p in runs]
    assert check.main(argv) == code                # resumed: the same runs, reused, the same verdict
    assert [p.stat().st_mtime_ns for p in runs] == mtimes


def test_check_refuses_a_bad_observation_file_before_any_run(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[observation]]\nid = "x"\nobservable = "no_such_column"\nreading = "level"\n'
                   'on = 2025-01-10\nvalue = 1\nuncertainty = { sd = 1 }\nsource = "s"\nkind = "estimate"\n')
    assert check.main(["--observations", str(bad), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "bad.toml" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args,needle", [
    (["--start", "START"], "[params] must be a table"),      # params = 3 was a raw TypeError
    (["--sigma", "-1"], "--sigma must be in (0, 1]"),         # a negative CMA-ES step was accepted
    (["--sigma", "0"], "--sigma must be in (0, 1]"),
])
def test_calibration_start_and_step_errors(tmp_path, capsys, args, needle):
    start = tmp_path / "start.toml"
    start.write_text("params = 3\n")
    args = [str(start) if a == "START" else a for a in args]
    assert calibrate.main([*args, "--out", str(tmp_path / "cal")]) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "cal").exists()


def test_a_point_fit_scored_with_band_widths_is_not_resumed_with_edge_sds(tmp_path):
    # A study folder from before a band's miss counted in its edge's sd has no band_miss: its trials were
    # scored with another distance, so resuming it would mix two objectives in one study.
    import tomli_w

    settings = {"seeds": 3, "objective": "envelope", "start": "defaults", "driver": "array",
                "observations": "article targets", "band_miss": calibrate.BAND_MISS}
    old = {k: v for k, v in settings.items() if k != "band_miss"}
    (tmp_path / "calibration.toml").write_text(tomli_w.dumps(old))
    with pytest.raises(calibrate.CalibrationError, match="other settings") as refused:
        calibrate.check_settings(tmp_path, settings)
    assert f"band_miss 'band width' -> {calibrate.BAND_MISS!r}" in str(refused.value)   # what changed, in words
    with pytest.raises(calibrate.CalibrationError, match=r"seeds 3 -> 5; saved in"):
        calibrate.check_settings(tmp_path, {**settings, "seeds": 5, "band_miss": "band width"})
    (tmp_path / "calibration.toml").write_text(tomli_w.dumps(settings))
    calibrate.check_settings(tmp_path, settings)        # the same settings resume
