"""Bayesian calibration (inference/): priors, the observation model, resumable ABC-SMC on local processes
and Dask, model comparison, the command line, and the recovery check on a few synthetic datasets."""

import dataclasses
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from inference.calibration import (
    CalibrationError,
    Settings,
    generations_table,
    model_probabilities,
    posterior_particles,
    prepare,
    run_abc,
)
from inference.sampler import close_sampler, sampler_for
from inference.simulate import ObservationDistance, observe
from inference.space import PriorError, load_priors, load_variants
from model.observations import JANUARY_2025_OBSERVATIONS, load_observations
from model.params import Params

ROOT = Path(__file__).resolve().parent.parent
SPACES = sorted((ROOT / "data" / "calibration").glob("space*.toml"))
SMALL = dict(agents=300, population_size=12, generations=2)


def write(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.fixture
def space(tmp_path):
    return write(tmp_path, "space.toml", """\
        [rednote_appeal]
        low = 3.0
        high = 6.0

        [wave_coverage]
        low = 0.3
        high = 3.0
        log = true
        """)


@pytest.fixture(scope="module", autouse=True)
def quiet_pyabc():
    import logging

    import pyabc  # noqa: F401

    logging.getLogger("ABC").setLevel(logging.WARNING)


# --- priors and variants ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", SPACES, ids=[p.name for p in SPACES])
def test_every_calibration_space_is_a_prior(path):
    priors = load_priors(path)
    assert priors
    for p in priors:
        low, high = p.bounds
        assert p.value(low) == pytest.approx(p.low) and p.value(high) == pytest.approx(p.high)
        assert p.key == (f"log10_{p.name}" if p.log else p.name)
        Params().replace(**{p.name: p.value((low + high) / 2)})     # a value the model accepts


@pytest.mark.parametrize("body,message,line", [
    ("[rednote_apeal]\nlow = 1\nhigh = 2\n", "unknown parameter 'rednote_apeal' .did you mean 'rednote_appeal'", 1),
    ("[x]\nlow = 1\n\n[rednote_appeal]\nlow = 5\nhigh = 2\n", "unknown parameter 'x'", 1),
    ("[rednote_appeal]\nlow = 5\nhigh = 2\n", "empty or inverted range", 2),
    ("[rednote_appeal]\nlow = 1\nhigh = 30\n", "admissible range", 3),
    ("[wave_coverage]\nlow = 0\nhigh = 2\nlog = true\n", "log-uniform prior needs low > 0", 2),
    ("[wave_coverage]\nlow = 0.1\n", "missing 'high'", 1),
    ("[wave_coverage]\nlow = 0.1\nhigh = 1\nscale = 2\n", "unknown key 'scale'", 4),
    ("[wave_coverage]\nlow = 0.1\nhigh = '1'\n", "high must be a finite number", 3),
    ("[start]\nlow = 1\nhigh = 2\n", "only numeric parameters", 1),
    ("[wave_coverage\nlow = 1\n", "not valid TOML", 1),
    ("", "no parameters", None),
])
def test_bad_priors_name_file_and_line(tmp_path, body, message, line):
    path = write(tmp_path, "bad.toml", body)
    with pytest.raises(PriorError, match=message) as err:
        load_priors(path)
    assert str(err.value).startswith(f"{path}:{line}:" if line else f"{path}:")


def test_bad_variants(tmp_path):
    base = Params()
    ok = write(tmp_path, "v.toml", """\
        [variants.a]
        description = "as is"

        [variants.b]
        params = { defiance_weight = 0.0 }
        """)
    variants = load_variants(ok, base)
    assert [v.name for v in variants] == ["a", "b"] and variants[1].params == {"defiance_weight": 0.0}
    # A variant fixing a parameter the space leaves free is a nested model without that prior.
    priors = load_priors(write(tmp_path, "s.toml", "[defiance_weight]\nlow = 0\nhigh = 8\n[rednote_appeal]\n"
                                                     "low = 3\nhigh = 6\n"))
    assert [p.name for p in variants[0].free(priors)] == ["defiance_weight", "rednote_appeal"]
    assert [p.name for p in variants[1].free(priors)] == ["rednote_appeal"]
    with pytest.raises(PriorError, match=r"v2.toml:5: \[variants.b\] unknown parameter 'defiance_weigth'"):
        load_variants(write(tmp_path, "v2.toml", """\
            [variants.a]
            description = "as is"

            [variants.b]
            params = { defiance_weigth = 0.0 }
            """), base)
    with pytest.raises(PriorError, match="at least two"):
        load_variants(write(tmp_path, "v3.toml", "[variants.a]\n"), base)


def test_bad_inputs_fail_before_any_simulation(tmp_path, space, monkeypatch, capsys):
    from inference import cli
    from inference.simulate import ObservationModel

    def no_simulation(*args, **kwargs):
        raise AssertionError("a simulation ran")

    monkeypatch.setattr(ObservationModel, "__call__", no_simulation)
    monkeypatch.setattr(ObservationModel, "simulate", no_simulation)
    bad_obs = write(tmp_path, "obs.toml", JANUARY_2025_OBSERVATIONS.read_text(encoding="utf-8").replace(
        'observable = "tiktok_dau"', 'observable = "tiktok_daus"', 1))
    bad_prior = write(tmp_path, "prior.toml", "[rednote_appeal]\nlow = 7\nhigh = 6\n")
    late = write(tmp_path, "late.toml", JANUARY_2025_OBSERVATIONS.read_text(encoding="utf-8").replace(
        "on = 2025-01-13", "on = 2026-03-01", 1))
    cases = [
        (["--observations", str(bad_obs), "--space", str(space)], f"{bad_obs}:"),
        (["--observations", str(JANUARY_2025_OBSERVATIONS), "--space", str(bad_prior)], f"{bad_prior}:2:"),
        (["--observations", str(late), "--space", str(space)], "outside the run"),
        (["--observations", str(JANUARY_2025_OBSERVATIONS), "--space", str(space), "--population", "1"],
         "--population at least 2"),
    ]
    for i, (argv, message) in enumerate(cases):
        out = tmp_path / f"out{i}"
        assert cli.main(argv + ["--out", str(out)]) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()


def test_the_observations_choose_the_space_config_and_size_unless_told(tmp_path, space):
    from model.observations import ARTICLE_OBSERVATIONS

    january = prepare(Settings(JANUARY_2025_OBSERVATIONS))
    assert january.settings.space.resolve() == (ROOT / "data/inference/space-observed.toml").resolve()
    assert january.settings.config.resolve() == (ROOT / "scenarios/observed-2025-01.toml").resolve()
    assert january.settings.agents == january.config.params.n_agents == 10_000
    assert "january-2025" in january.chosen_by["space"] and "base" in january.chosen_by["config"]
    # The observed regime's parameters, not the article's defaults, under the priors.
    assert january.config.params.fit_spread > 0 and january.config.params.rednote_appeal < 1
    article = prepare(Settings(ARTICLE_OBSERVATIONS))
    assert article.settings.space.name == "space-news.toml" and article.settings.config is None
    assert article.settings.agents == 5_000
    # Explicit choices win, and are said to be explicit.
    mine = prepare(Settings(JANUARY_2025_OBSERVATIONS, space, agents=300))
    assert mine.settings.space == space and mine.settings.config is None and mine.settings.agents == 300
    assert mine.chosen_by == {"space": "--space", "config": "the defaults (no --config, and the space names no base)",
                              "agents": "--agents"}
    observed = ROOT / "scenarios/observed-2025-01.toml"
    told = prepare(Settings(JANUARY_2025_OBSERVATIONS, config=observed, agents=300))
    assert told.chosen_by["config"] == "--config" and told.settings.config == observed


def test_a_space_made_for_another_regime_is_refused(tmp_path, monkeypatch):
    from inference.space import default_space

    january_space = ROOT / "data/inference/space-january.toml"
    observed = ROOT / "scenarios/observed-2025-01.toml"
    with pytest.raises(CalibrationError, match=r"space-january.toml does not suit the run config .*observed-2025-01"
                       r".*rednote_appeal = -[0-9.]+ \(prior \[2, 6\] at .*space-january.toml:(\d+), set at "
                       r".*observed-2025-01.toml:(\d+)\)") as refused:
        prepare(Settings(JANUARY_2025_OBSERVATIONS, january_space, config=observed))
    # Each clash names its lines: the prior's table in the space, the value in the config's [params].
    prior_line, value_line = (int(n) for n in re.search(r"rednote_appeal = .*?:(\d+), set at .*?:(\d+)",
                                                        str(refused.value)).groups())
    assert january_space.read_text().splitlines()[prior_line - 1] == "[rednote_appeal]"
    assert observed.read_text().splitlines()[value_line - 1].startswith("rednote_appeal =")
    # The observed space on the article's defaults: refused too, naming what lies outside.
    with pytest.raises(CalibrationError, match="the defaults.*fit_spread = 0"):
        prepare(Settings(JANUARY_2025_OBSERVATIONS, write(tmp_path, "nobase.toml", "[fit_spread]\nlow = 0.3\n"
                                                          "high = 4\n")))
    # A space's base or size that cannot be used, and a broken defaults file, name the file and line.
    bad_base = write(tmp_path, "bad-base.toml", "# a comment\nbase = \"nowhere.toml\"\n\n[rednote_appeal]\n"
                     "low = 3\nhigh = 6\n")
    with pytest.raises(CalibrationError, match=f"{bad_base}:2: base config not found: .*nowhere.toml"):
        prepare(Settings(JANUARY_2025_OBSERVATIONS, bad_base))
    bad_agents = write(tmp_path, "bad-agents.toml", "agents = 5.5\n[rednote_appeal]\nlow = 3\nhigh = 6\n")
    with pytest.raises(CalibrationError, match=f"{bad_agents}:1: agents must be a whole number"):
        prepare(Settings(JANUARY_2025_OBSERVATIONS, bad_agents))
    observations = load_observations(JANUARY_2025_OBSERVATIONS)
    missing = write(tmp_path, "defaults.toml", 'default_space = "space-news.toml"\n\n[spaces]\n'
                    '"january-2025" = "gone.toml"\n')
    with pytest.raises(PriorError, match=f"{missing}:4: space file not found: .*gone.toml"):
        default_space(observations, missing)
    other = dataclasses.replace(observations, name="mine")
    (tmp_path / "space-news.toml").write_text("[rednote_appeal]\nlow = 3\nhigh = 6\n", encoding="utf-8")
    assert default_space(other, missing)[0] == (tmp_path / "space-news.toml").resolve()


def test_a_folder_of_another_calibration_is_refused(tmp_path, space):
    problem = prepare(Settings(JANUARY_2025_OBSERVATIONS, space, **SMALL))
    from inference.calibration import claim_folder

    claim_folder(problem, tmp_path / "out")
    claim_folder(problem, tmp_path / "out")                       # the same: accepted
    other = prepare(Settings(JANUARY_2025_OBSERVATIONS, space, **{**SMALL, "population_size": 13}))
    with pytest.raises(CalibrationError, match="settings.population_size"):
        claim_folder(other, tmp_path / "out")
    # How many generations is when to stop, not another calibration: a stopped run may be finished shorter.
    claim_folder(prepare(Settings(JANUARY_2025_OBSERVATIONS, space, **{**SMALL, "generations": 5})), tmp_path / "out")


# --- the observation model -------------------------------------------------------------------------

def test_scale_applies_to_readings_in_people_and_noise_has_the_figures_sd():
    observations = load_observations(JANUARY_2025_OBSERVATIONS)
    readings = {o.id: 1.0e6 if o.is_scaled else 2.0 for o in observations}
    clean = observe(observations, readings, {"scale_similarweb": 0.5}, None)
    assert clean["similarweb.rednote_dau.jan13"] == 0.5e6
    assert clean["company.new_users.jan13_14"] == 1.0e6                 # the company's source has no scale
    assert clean["similarweb.tiktok_dau.week_on_week"] == 2.0           # a ratio is scale-free
    rng = np.random.default_rng(0)
    draws = np.array([observe(observations, readings, {"scale_similarweb": 0.5}, rng)["similarweb.rednote_dau.jan13"]
                      for _ in range(4000)])
    sd = observations["similarweb.rednote_dau.jan13"].sd
    assert abs(draws.mean() - 0.5e6) < 4 * sd / math.sqrt(len(draws))
    assert draws.std() == pytest.approx(sd, rel=0.06)
    assert observe(observations, readings, {"scale_similarweb": 0.5}, rng)["company.new_users.jan13_14"] == 1e6


def test_distance_reads_sds_and_bands():
    observations = load_observations(JANUARY_2025_OBSERVATIONS)
    distance = ObservationDistance(observations)
    exact = {o.id: (o.value if o.band is None else (o.band[0] + min(o.band[1], 2 * o.band[0] + 1)) / 2)
             for o in observations}
    assert distance(exact) == 0.0
    one_sd = dict(exact, **{"similarweb.rednote_dau.jan13": 3.4e6 + observations["similarweb.rednote_dau.jan13"].sd})
    assert distance(one_sd) == pytest.approx(1.0)
    assert distance(dict(exact, **{"similarweb.rednote_dau.jan13": math.nan})) == math.inf
    # A band's miss counts in its edge's sd: the file declares 5% for "under 700,000" (35,000), so a
    # reading of 826,000 misses by 3.6, not by 0.18 band widths as it did when a band's width was its scale.
    jan12 = observations["similarweb.rednote_dau.jan12"]
    assert jan12.miss(826_000) == pytest.approx(126_000 / 35_000)
    assert distance(dict(exact, **{jan12.id: 826_000})) == pytest.approx(126_000 / 35_000)
    # One edge sd beyond the band weighs as much as one sd off a figure with an sd.
    assert distance(dict(exact, **{jan12.id: 735_000})) == pytest.approx(distance(one_sd))
    # ... and the company's "more than 700,000" below its edge, signed.
    assert observations["company.new_users.jan13_14"].miss(630_000) == pytest.approx(-2.0)


def test_same_seed_same_figures(space):
    problem = prepare(Settings(JANUARY_2025_OBSERVATIONS, space, **SMALL))
    model = problem.models()[0]
    sampled = {"rednote_appeal": 4.5, "log10_wave_coverage": 0.0, "log10_scale_similarweb": -0.3}
    a, b, c = model.simulate(sampled, 7), model.simulate(sampled, 7), model.simulate(sampled, 8)
    assert a == b and a != c
    assert model.params(sampled).end == problem.observations.last_date((Params().start, Params().end))


# --- ABC-SMC runs --------------------------------------------------------------------------------------

def _populations(out: Path) -> dict[int, int]:
    with sqlite3.connect(out / "history.db") as db:
        rows = db.execute("select populations.t, count(particles.id) from populations join models on "
                          "models.population_id = populations.id join particles on particles.model_id = models.id "
                          "where populations.t >= 0 group by populations.t").fetchall()
    return dict(rows)


def test_single_process_run_is_reproducible_and_resumes_to_the_same_size(tmp_path, space):
    problem = prepare(Settings(JANUARY_2025_OBSERVATIONS, space, **SMALL))
    posteriors = []
    for name in ("a", "b"):
        out = tmp_path / name
        out.mkdir()
        history = run_abc(problem, out, sampler_for(1))
        posteriors.append(posterior_particles(history, problem))
    assert posteriors[0].equals(posteriors[1])
    assert len(posteriors[0]) == SMALL["population_size"]
    # One more generation asked of a finished run: it continues from the last one.
    longer = dataclasses.replace(problem, settings=dataclasses.replace(problem.settings, generations=3))
    run_abc(longer, tmp_path / "a", sampler_for(1))
    assert _populations(tmp_path / "a") == {0: 12, 1: 12, 2: 12}


def test_kill_during_a_generation_then_rerun_continues(tmp_path, space):
    import psutil

    out = tmp_path / "run"
    command = [sys.executable, "-m", "inference", "--observations", str(JANUARY_2025_OBSERVATIONS),
               "--space", str(space), "--agents", "300", "--population", "16", "--generations", "3",
               "--workers", "2", "--draws", "2", "--point-seeds", "0", "--out", str(out)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = psutil.Process(process.pid)
    deadline = time.time() + 240
    try:
        seen = set()
        while time.time() < deadline:       # until the first generation is stored
            seen |= {c.pid for c in driver.children(recursive=True)}
            if (out / "history.db").exists():
                try:
                    if _populations(out).get(0):
                        break
                except sqlite3.Error:
                    pass
            time.sleep(0.05)
        else:
            pytest.fail("the first generation never finished")
        # pyABC starts new worker processes for each generation: wait for the second one's, then kill the
        # driver in the middle of it.
        workers = []
        while time.time() < deadline and not workers:
            workers = [c for c in driver.children(recursive=True) if c.pid not in seen]
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    assert workers, "no worker process was seen in the second generation"
    done_at_kill = _populations(out)
    assert 0 in done_at_kill and 2 not in done_at_kill        # killed before the last generation
    # The worker processes notice their driver is gone and exit: nothing is left behind.
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, alive
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert _populations(out) == {0: 16, 1: 16, 2: 16}          # no generation lost or doubled
    assert "resuming" in result.stdout
    assert len((out / "commands.log").read_text().splitlines()) == 2
    assert (out / "report.md").exists()


def test_dask_local_cluster_and_local_processes_give_posteriors_of_the_same_size(tmp_path, space):
    problem = prepare(Settings(JANUARY_2025_OBSERVATIONS, space, **SMALL))
    sizes = {}
    for name, scheduler in (("processes", None), ("dask", "local")):
        out = tmp_path / name
        out.mkdir()
        sampler = sampler_for(2, scheduler)
        try:
            history = run_abc(problem, out, sampler)
        finally:
            close_sampler(sampler)
        sizes[name] = (len(posterior_particles(history, problem)), history.max_t + 1)
    assert sizes["processes"] == sizes["dask"] == (SMALL["population_size"], SMALL["generations"])


def test_model_comparison_prefers_the_variant_that_made_the_data(tmp_path):
    # Data from today's model; the other variant makes switching to RedNote prohibitive.
    problem = prepare(Settings(JANUARY_2025_OBSERVATIONS, write(tmp_path, "s.toml", """\
        [wave_coverage]
        low = 0.5
        high = 2.0
        log = true
        """), **SMALL))
    model = dataclasses.replace(problem.models()[0], noise=False)
    truth = model.simulate({"log10_wave_coverage": 0.0, "log10_scale_similarweb": -0.3}, 3)
    observations = tuple(dataclasses.replace(o, value=truth[o.id], sd=0.1 * abs(truth[o.id]), band=None)
                         for o in problem.observations if o.band is None)
    variants = load_variants(write(tmp_path, "v.toml", """\
        [variants.today]
        description = "as is"

        [variants.no_switching]
        params = { switching_cost = 50.0 }
        """), problem.config.params)
    problem = dataclasses.replace(problem, variants=variants,
                                  observations=dataclasses.replace(problem.observations, observations=observations),
                                  settings=dataclasses.replace(problem.settings, generations=4, population_size=20))
    history = run_abc(problem, tmp_path, sampler_for(1))
    probabilities = model_probabilities(history, problem)
    assert probabilities.sum(axis=1).to_numpy() == pytest.approx(1.0)
    # The data's own variant gains at every generation, and ends the clear favourite.
    assert (probabilities["today"].diff().dropna() > 0).all(), probabilities
    assert probabilities["today"].iloc[-1] > 0.75, probabilities
    # Each variant's own effective sample size, which its probability rests on: never more than its
    # particles, and the favourite's the larger.
    generations = generations_table(history, tuple(problem.variant_names))
    particles = posterior_particles(history, problem)
    last = generations.iloc[-1]
    for name in problem.variant_names:
        assert 0 <= last[f"ess[{name}]"] <= (particles["variant"] == name).sum() + 1e-9, generations
    assert last["ess[today]"] > last["ess[no_switching]"], generations


def test_variants_that_fix_a_free_parameter_are_nested_models(tmp_path, space):
    variants = write(tmp_path, "v.toml", """\
        [variants.free]
        description = "rednote_appeal inferred"

        [variants.fixed]
        params = { rednote_appeal = 4.5 }
        """)
    problem = prepare(Settings(JANUARY_2025_OBSERVATIONS, space, variants=variants, **SMALL))
    assert [p.name for p in problem.models()[1].priors] == ["wave_coverage"]
    history = run_abc(problem, tmp_path, sampler_for(1))
    particles = posterior_particles(history, problem)
    by_variant = particles.groupby("variant")["rednote_appeal"]
    assert by_variant.apply(lambda v: v.isna().all()).get("fixed", True)
    assert by_variant.apply(lambda v: v.notna().all()).get("free", True)
    assert particles["wave_coverage"].notna().all()
    assert particles["weight"].sum() == pytest.approx(1.0)


def test_shipped_variants_load_on_their_spaces():
    observed = prepare(Settings(JANUARY_2025_OBSERVATIONS, agents=300,
                                variants=ROOT / "data/inference/variants-experience-good.toml"))
    learning, no_learning = observed.variants
    assert "fit_spread" in {p.name for p in observed.priors_of(learning)}
    assert "fit_spread" not in {p.name for p in observed.priors_of(no_learning)}
    assert observed.models()[1].params({p.key: p.bounds[0] for p in observed.all_priors}).fit_spread == 0.0
    for path in sorted((ROOT / "data/inference").glob("variants-*.toml")):
        assert len(load_variants(path, Params())) >= 2


def test_too_thin_flags_a_low_effective_sample_size(space):
    import pandas as pd

    from inference.calibration import MIN_TRUSTED_ESS, too_thin

    problem = prepare(Settings(JANUARY_2025_OBSERVATIONS, space, agents=300, population_size=300, generations=2))
    generations = pd.DataFrame({"t": [0, 1], "epsilon": [5.0, 3.0], "ess": [300.0, 2.0 * MIN_TRUSTED_ESS]})
    assert too_thin(problem, generations) == []
    generations.loc[1, "ess"] = MIN_TRUSTED_ESS - 1
    assert [r for r in too_thin(problem, generations) if "effective sample size" in r]
    assert [r for r in too_thin(problem, generations.iloc[:1]) if "1 of 2 generations" in r]
    # A model comparison is as thin as its thinnest variant, however large the population's ESS.
    generations.loc[1, "ess"] = 2.0 * MIN_TRUSTED_ESS
    generations["ess[learning]"] = [150.0, 2.0 * MIN_TRUSTED_ESS]
    generations["ess[none]"] = [150.0, MIN_TRUSTED_ESS - 1]
    assert [r for r in too_thin(problem, generations) if r.startswith("variant none:")]
    assert not [r for r in too_thin(problem, generations) if "learning" in r]
    generations.loc[1, "ess[none]"] = MIN_TRUSTED_ESS
    assert too_thin(problem, generations) == []


def test_command_line_writes_the_posterior_forecast_and_report(tmp_path, space):
    from experiments.calibrate import main

    out = tmp_path / "abc"
    argv = ["--method", "abc", "--observations", str(JANUARY_2025_OBSERVATIONS), "--space", str(space),
            "--agents", "300", "--population", "10", "--generations", "1", "--draws", "4", "--point-seeds", "2",
            "--forecast-end", "2025-03-31", "--out", str(out)]
    assert main(argv) == 0
    for name in ("posterior.csv", "posterior_table.csv", "generations.csv", "bands.csv", "forecast.csv",
                 "observations_check.csv", "point_fit_check.csv", "provenance.toml", "figures/posterior.png",
                 "figures/fit.png", "figures/forecast.png", "predictive/daily.parquet"):
        assert (out / name).exists(), name
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Too thin to trust" in report                      # 10 particles are flagged
    import tomllib

    import pandas as pd

    assert not pd.read_csv(out / "posterior_table.csv")["trusted"].any()     # in the files too
    provenance = tomllib.loads((out / "provenance.toml").read_text(encoding="utf-8"))
    assert provenance["trusted"] is False and provenance["too_thin"]
    assert provenance["chosen_by"]["space"] == "--space"
    assert "python -m experiments.calibrate --method abc" in report
    assert "## Forecast to 2025-03-31" in report
    bands = pd.read_csv(out / "bands.csv", index_col=[0, 1], parse_dates=[0])
    assert bands.index.get_level_values(0).max() == pd.Timestamp("2025-03-31")
    low = bands.xs(0.05, level=1)["rednote_dau"]
    high = bands.xs(0.95, level=1)["rednote_dau"]
    assert (low <= high).all()
    # The second time, every output is made again from the saved history and predictive runs.
    mtime = (out / "predictive" / "daily.parquet").stat().st_mtime
    assert main(argv) == 0
    assert (out / "predictive" / "daily.parquet").stat().st_mtime == mtime


@pytest.mark.slow
def test_recovery_covers_the_truth_on_synthetic_datasets(tmp_path):
    from inference.recovery import RECOVERY_SPACE, run_recovery

    settings = Settings(JANUARY_2025_OBSERVATIONS, RECOVERY_SPACE, agents=400, population_size=20, generations=2)
    summary = run_recovery(settings, 3, tmp_path, log=lambda *a: None)
    assert summary["coverage"] >= 7 / 9, summary
    # The data taught something: some interval is narrower than its prior.
    assert min(summary["mean_width_over_prior"].values()) < 0.9, summary
    assert summary["too_few_datasets"] and not summary["passed"]       # 3 datasets are flagged as too few
    assert "Too thin to trust" in (tmp_path / "report.md").read_text(encoding="utf-8")
    # Resumed with other settings: refused before any work, saying what changed.
    other = Settings(JANUARY_2025_OBSERVATIONS, RECOVERY_SPACE, agents=400, population_size=21, generations=2)
    with pytest.raises(CalibrationError, match=r"population_size '20' -> '21'"):
        run_recovery(other, 3, tmp_path, log=lambda *a: None)


def test_command_line_writes_a_peak_day_as_a_date(tmp_path, space):
    """observations_check.csv and point_fit_check.csv give a peak_date figure's median and interval as
    dates, as the report does, not as days since 1970."""
    import pandas as pd

    from experiments.calibrate import main
    from model.observations import ARTICLE_OBSERVATIONS

    out = tmp_path / "abc-article"
    argv = ["--method", "abc", "--observations", str(ARTICLE_OBSERVATIONS), "--space", str(space),
            "--agents", "300", "--population", "10", "--generations", "1", "--draws", "4", "--point-seeds", "2",
            "--out", str(out)]
    assert main(argv) == 0
    for name in ("observations_check.csv", "point_fit_check.csv"):
        table = pd.read_csv(out / name, index_col="id", dtype=str)
        for column in ("median", "q05", "q95"):
            value = table.loc["surge.peak_daily_downloads_between", column]
            assert pd.Timestamp(value).year == 2025, (name, column, value)
        assert float(table.loc["surge.downloads_week_ratio", "median"]) > 0     # other figures stay numbers


def test_python_m_inference_on_ctrl_c_says_how_to_resume(monkeypatch, capsys):
    """Ctrl-C in ``python -m inference`` ends as in every other command: exit 130 and the command to type
    again, not a traceback."""
    import inference.cli
    from inference.__main__ import inference_command

    def interrupted(args, command):
        raise KeyboardInterrupt

    monkeypatch.setattr(inference.cli, "run", interrupted)
    assert inference_command(["--observations", "x.toml", "--out", "d"]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "to resume, run python -m inference --observations x.toml --out d" in err


def test_recovery_on_ctrl_c_says_how_to_resume(monkeypatch, capsys):
    """``python -m inference.recovery`` (resumable, dataset by dataset) ends a Ctrl-C as every command does."""
    import inference.recovery

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(inference.recovery, "run_recovery", interrupted)
    assert inference.recovery.main(["--datasets", "2", "--out", "d"]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and "to resume, run python -m inference.recovery --datasets 2 --out d" in err


def test_cmaes_fits_a_band_only_observation_file_and_remembers_which(tmp_path, capsys):
    from experiments.calibrate import main
    from model.observations import ARTICLE_OBSERVATIONS

    space = write(tmp_path, "space.toml", "[defiance_weight]\nlow = 0.0\nhigh = 8.0\n")
    out = tmp_path / "cal"
    args = ["--space", str(space), "--seeds", "1", "--agents", "300", "--workers", "1", "--trials", "1",
            "--out", str(out)]
    assert main(args + ["--observations", str(ARTICLE_OBSERVATIONS)]) == 0
    assert "surge.dau_week_ratio" in (out / "best_targets.md").read_text(encoding="utf-8")
    # The same folder with another aim is refused rather than mixed in.
    other = write(tmp_path, "fewer.toml", ARTICLE_OBSERVATIONS.read_text(encoding="utf-8").split(
        "[[observation]]\nid = \"surge.dau_week_ratio\"")[0])
    capsys.readouterr()
    assert main(args + ["--observations", str(other)]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(args) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(args[:-2] + ["--observations", str(JANUARY_2025_OBSERVATIONS), "--out", str(tmp_path / "j")]) == 2
    assert "have an sd (use --method abc)" in capsys.readouterr().err


@pytest.mark.parametrize("space", sorted(Path("data/inference").glob("space-*.toml")) + [Path("data/calibration/space-news.toml")])
def test_shipped_spaces_are_admissible_priors(space):
    """Every space file shipped for the Bayesian calibration loads as priors inside the parameters' ranges."""
    from inference.space import load_priors

    priors = load_priors(space)
    assert priors and all(p.low < p.high for p in priors)


def test_the_point_fit_refuses_a_bayesian_space_that_names_its_run(tmp_path, capsys):
    from experiments.calibrate import main

    out = tmp_path / "cal"
    assert main(["--space", str(ROOT / "data/inference/space-observed.toml"), "--trials", "1", "--out", str(out)]) == 2
    assert "agents, base name the run a Bayesian calibration's space was made for" in capsys.readouterr().err
    assert not out.exists()


def test_each_variants_proposal_uses_a_quarter_of_the_whole_population():
    # A variant holding 40 of 300 particles estimates each local covariance from the whole population's
    # quarter (75, so all its 40), not from a quarter of its own 40 (10 in 8 dimensions: needle-thin).
    import pandas as pd

    from inference.calibration import proposal_kernel

    rng = np.random.default_rng(0)
    share = pd.DataFrame(rng.uniform(size=(40, 8)), columns=[f"p{i}" for i in range(8)])
    kernel = proposal_kernel(300)
    kernel.fit(share, np.full(40, 1 / 40))
    assert kernel.k == 75
    alone = proposal_kernel(40)            # one model: the quarter of its own population, as before
    alone.fit(share, np.full(40, 1 / 40))
    assert alone.k == 10
    # The wider neighbourhood gives wider proposals: a larger local covariance around every particle.
    assert (kernel.determinants > alone.determinants).mean() > 0.9
