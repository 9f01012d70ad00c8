"""Run counterfactual scenarios as seed ensembles and compare each with the default.

    python -m experiments.scenarios [NAMES ...] [--seeds K] [--first-seed S] [--agents N] [--driver ENGINE]
                                    [--workers W] [--scheduler ADDRESS] --out DIR

NAMES are scenario names (files in scenarios/, without .toml) or paths to scenario files; with none,
every shipped scenario runs. The default scenario is always run too: it is the baseline. Each scenario
runs with seeds S..S+K-1 (the same seeds, hence the same initial populations, for every scenario, so
differences from the default are taken seed by seed), on local worker processes or a Dask cluster.

DIR/ensembles/<name>/ holds each scenario's runs (``runs/seed-*.parquet``, each saved as it finishes:
an interrupted command resumes), the exact config and how to rerun one seed. A saved run made otherwise
(parameters, timeline, engine, agents, code) is an error unless --overwrite asks to run it again.
A scenario's name names its folder: it must be a safe file name. The comparison is rewritten on each run: comparison.csv and
comparison.md (outcomes: ensemble medians, 5-95% ranges, differences from the default), figures/ and
report.md (what each counterfactual changes, in words generated from the numbers).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from batch import outcomes as registry
from batch.cli import add_executor_arguments, add_output_arguments, command, non_negative_int, positive_int
from batch.engines import ENGINE_NAMES
from batch.ensemble import Ensemble, run_ensemble
from batch.errors import InputError
from batch.executor import open_executor
from batch.outputs import hold_folder, open_folder, record, safe_name, staged_output, write_text
from experiments.plots import PLATFORM_COLOURS, plot_lines
from model.config import RunConfig, load_config

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
BASELINE = "default"
META_FILE = "ensemble.json"


class ScenarioError(InputError):
    """A scenario that cannot be found, read or compared."""


# The compared outcomes, from the one registry (batch.outcomes).
OUTCOMES = tuple(registry.OUTCOMES[key] for key in registry.SCENARIO)

# Daily series drawn as overlays, one line and 5-95% band per scenario.
OVERLAYS = {
    "cumulative_downloads": "RedNote cumulative US downloads",
    "rednote_users": "RedNote users",
    "tiktok_users": "TikTok users",
    "dual_users": "Dual users (TikTok and RedNote)",
    "rednote_dau": "RedNote daily active users",
    "cumulative_return_migrants": "Return migrants to TikTok (cumulative)",
}
SCENARIO_COLOURS = ("#000000", "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                    "#17becf", "#bcbd22", "#7f7f7f")


# --- finding and loading scenarios ------------------------------------------------------------------

def shipped_scenarios() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("*.toml"))


def resolve(names: list[str]) -> list[Path]:
    """Scenario files for names or paths, the baseline first; unknown names are an error listing the known ones."""
    known = {p.stem: p for p in shipped_scenarios()}
    paths = []
    for name in names or sorted(known):
        path = Path(name)
        if path.suffix == ".toml" or path.is_file():
            if not path.is_file():
                raise ScenarioError(f"scenario file not found: {path}")
        elif name in known:
            path = known[name]
        else:
            raise ScenarioError(f"unknown scenario {name!r}; shipped scenarios are {sorted(known)} "
                                f"(or give the path of a .toml file)")
        paths.append(path)
    if BASELINE not in known:
        raise ScenarioError(f"the baseline scenario {SCENARIO_DIR / (BASELINE + '.toml')} is missing")
    resolved = [known[BASELINE]] + [p for p in paths if p.resolve() != known[BASELINE].resolve()]
    return list(dict.fromkeys(p.resolve() for p in resolved))


def load_scenarios(paths: list[Path], n_agents: int | None = None, driver: str | None = None) -> dict[str, RunConfig]:
    configs: dict[str, RunConfig] = {}
    for path in paths:
        config = load_config(path, n_agents=n_agents, driver=driver)
        safe_name(config.name, f"{path}: scenario name")
        if config.name in configs:
            raise ScenarioError(f"{path}: scenario name {config.name!r} is already used by another scenario")
        configs[config.name] = config
    return configs


# --- ensembles on disk ------------------------------------------------------------------------------

def ensemble_dir(out: Path, name: str) -> Path:
    return out / "ensembles" / safe_name(name, "scenario name")


def run_scenario(config: RunConfig, seeds: list[int], out: Path, executor, overwrite: bool, progress: bool
                 ) -> list[pd.DataFrame]:
    """Every seed of one scenario, saved run by run in ``ensembles/<name>/runs`` (resumed, never mixed)."""
    target = ensemble_dir(out, config.name)
    frames = run_ensemble(Ensemble.of(config), seeds, target / "runs", executor=executor, overwrite=overwrite,
                          progress=progress, desc=config.name, out=out)
    config_path = write_text(out, f"ensembles/{config.name}/config.toml", config.to_toml(folder=target))
    meta = {"scenario": config.name, "description": config.description, "seeds": seeds,
            "rerun": f"python -m experiments.run --config {config_path} --seed S  (S in {seeds})"}
    write_text(out, f"ensembles/{config.name}/{META_FILE}", json.dumps(meta, indent=2))
    return frames


# --- comparison -------------------------------------------------------------------------------------

def outcome_table(ensembles: dict[str, list[pd.DataFrame]]) -> pd.DataFrame:
    """One row per scenario and outcome: medians and 5-95% ranges, and the seed-by-seed difference from the default."""
    values = {name: pd.DataFrame([{o.key: o.number(f) for o in OUTCOMES} for f in runs])
              for name, runs in ensembles.items()}
    base = values[BASELINE]
    rows = []
    for name, table in values.items():
        for o in OUTCOMES:
            x, b = table[o.key], base[o.key]
            n = min(len(x), len(b))
            diff = (x.iloc[:n].to_numpy() - b.iloc[:n].to_numpy())
            base_median = float(b.median())
            row = {
                "scenario": name, "outcome": o.key, "label": o.label, "seeds": len(x),
                "median": float(x.median()), "p05": float(x.quantile(0.05)), "p95": float(x.quantile(0.95)),
                "default_median": base_median,
                "diff_median": float(np.median(diff)) if n else math.nan,
                "diff_p05": float(np.quantile(diff, 0.05)) if n else math.nan,
                "diff_p95": float(np.quantile(diff, 0.95)) if n else math.nan,
            }
            # Relative to the default's median, of the same seed-by-seed difference the table shows.
            row["relative_change"] = row["diff_median"] / base_median if base_median else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def millions(x: float) -> str:
    if x is None or math.isnan(x):
        return "n/a"
    return f"{x / 1e6:,.2f} M" if abs(x) < 1e7 else f"{x / 1e6:,.1f} M"


def signed_millions(x: float) -> str:
    return "n/a" if math.isnan(x) else ("+" if x > 0 else "") + millions(x)


def percent(x: float) -> str:
    return "n/a" if math.isnan(x) or math.isinf(x) else f"{x:+.0%}"


def comparison_markdown(table: pd.DataFrame, k: int, n_agents: int) -> str:
    lines = [f"# Scenario comparison ({k} seeds, {n_agents} simulated users each)", "",
             "Ensemble medians with 5-95% ranges over seeds (million people). The difference from the default is "
             "taken seed by seed (same seeds, same initial populations): median [5-95%].", ""]
    if registry.range_note(k):
        lines += [f"**Warning:** {registry.range_note(k)}.", ""]
    for o in OUTCOMES:
        lines += [f"## {o.label}", "", "| scenario | median | 5-95% | difference from default | relative |",
                  "|---|---|---|---|---|"]
        for row in table[table.outcome == o.key].itertuples():
            diff = "—" if row.scenario == BASELINE else (
                f"{signed_millions(row.diff_median)} [{signed_millions(row.diff_p05)}, {signed_millions(row.diff_p95)}]")
            rel = "—" if row.scenario == BASELINE else percent(row.relative_change)
            lines.append(f"| {row.scenario} | {millions(row.median)} | {millions(row.p05)} – {millions(row.p95)} "
                         f"| {diff} | {rel} |")
        lines.append("")
    return "\n".join(lines)


def is_clear(row) -> bool:
    """The whole 5-95% range of seed-by-seed differences lies on one side of zero."""
    return (row.diff_p05 > 0 or row.diff_p95 < 0) and not math.isnan(row.diff_median)


def describe(row, outcome: registry.Outcome) -> str:
    """One outcome of one scenario against the default, in words."""
    if math.isnan(row.median):
        return f"{outcome.label}: not reached by this run's horizon."
    more, fewer = ("more", "fewer") if outcome.kind == "count" else ("higher", "lower")
    head = f"{outcome.label}: {millions(row.median)} against {millions(row.default_median)} in the default"
    if row.diff_p05 == 0 and row.diff_p95 == 0:
        return f"{head}; unchanged in every seed."
    if not is_clear(row):
        return (f"{head}; no clear change (the seed-by-seed difference runs from {signed_millions(row.diff_p05)} "
                f"to {signed_millions(row.diff_p95)}).")
    way = more if row.diff_median > 0 else fewer
    rel = f", {percent(row.relative_change)}" if not math.isnan(row.relative_change) and row.default_median else ""
    return (f"{head}: {millions(abs(row.diff_median))} {way}{rel} (seed by seed, {signed_millions(row.diff_p05)} "
            f"to {signed_millions(row.diff_p95)}).")


def new_downloads(frame: pd.DataFrame, until: str) -> float:
    """RedNote first installs from the first simulated day to ``until`` (those already on it at the start excluded)."""
    return float(frame.loc[:until, "downloads"].sum())


def paired(ensembles, name: str, measure) -> tuple[np.ndarray, np.ndarray]:
    """A measure of each run of a scenario and of the default, seed by seed."""
    n = min(len(ensembles[name]), len(ensembles[BASELINE]))
    return (np.array([measure(f) for f in ensembles[name][:n]]),
            np.array([measure(f) for f in ensembles[BASELINE][:n]]))


def _range(values: np.ndarray, fmt) -> str:
    return f"{fmt(np.quantile(values, 0.05))} to {fmt(np.quantile(values, 0.95))}"


def _share(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.0%}"


def answer_ban_held(ensembles) -> str:
    users, base_users = paired(ensembles, "ban-enforced", lambda f: f["rednote_users"].iloc[-1])
    kept, base_kept = paired(ensembles, "ban-enforced",
                             lambda f: f["rednote_users"].iloc[-1] / f["cumulative_downloads"].iloc[-1])
    verb = "more" if np.median(users - base_users) > 0 else "fewer"
    return (f"With TikTok gone for good, RedNote ends the run with {millions(np.median(users))} users against "
            f"{millions(np.median(base_users))} in the default ({millions(abs(np.median(users - base_users)))} {verb}; "
            f"seed by seed {_range(users - base_users, signed_millions)}). Of everyone who ever installed RedNote, "
            f"{_share(np.median(kept))} are still on it at the end, against {_share(np.median(base_kept))} in the "
            f"default. {_outside_option_sentence(ensembles)}")


def _outside_option_sentence(ensembles) -> str:
    """Where TikTok's users went: RedNote, other short-video apps (the outside option), or nowhere."""
    first = ensembles["ban-enforced"]
    start = np.array([f["tiktok_users"].iloc[0] for f in first])
    other = np.array([f["other_apps"].iloc[-1] for f in first]) / start
    rednote = np.array([f["rednote_users"].iloc[-1] for f in first]) / start
    where = "most of them" if np.median(other) > 0.5 else "a minority of them"
    minority = "a minority" if np.median(rednote) < 0.5 else "a majority"
    return (f"Of TikTok's {millions(np.median(start))} users at the start, {_share(np.median(other))} end on other "
            f"short-video apps ({where}) and {_share(np.median(rednote))} on RedNote ({minority}).")


def answer_defiance(ensembles) -> str:
    parts = []
    for until in ("2025-01-31", "2025-03-31"):
        new, base_new = paired(ensembles, "no-defiance", lambda f, u=until: new_downloads(f, u))
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(base_new > 0, 1.0 - new / base_new, np.nan)
        share = share[~np.isnan(share)]
        if not share.size:
            parts.append(f"by {until} the default has no new downloads to compare")
            continue
        parts.append(f"by {until}, {millions(np.median(new))} new RedNote downloads without defiance against "
                     f"{millions(np.median(base_new))} with it: defiance accounts for {_share(np.median(share))} of "
                     f"the default's new downloads (seed by seed {_range(share, _share)})")
    return "In this model, " + "; ".join(parts) + "."


def answer_festival(ensembles) -> str:
    new, base_new = paired(ensembles, "no-lunar-new-year", lambda f: new_downloads(f, "2025-03-31"))
    gain = base_new - new
    return (f"The festival adds {millions(np.median(gain))} new RedNote downloads by 2025-03-31 (seed by seed "
            f"{_range(gain, signed_millions)}), out of {millions(np.median(base_new))} in the default.")


def answer_creators(ensembles) -> str:
    back, base_back = paired(ensembles, "creators-paid", lambda f: f["cumulative_creator_return_migrants"].iloc[-1])
    moved, base_moved = paired(ensembles, "creators-paid", lambda f: f["cumulative_creator_migrants"].iloc[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        rate, base_rate = np.median(back / moved), np.median(base_back / base_moved)
    return (f"Creators' moves back to TikTok by the end of the run: {millions(np.median(back))} when paid against "
            f"{millions(np.median(base_back))} in the default, out of {millions(np.median(moved))} and "
            f"{millions(np.median(base_moved))} creator moves to RedNote ({_share(rate)} against "
            f"{_share(base_rate)} of their moves).")


# The article's open questions, each answered from the ensemble of the scenario that asks it.
QUESTIONS = (
    ("ban-enforced", "Would users have stayed on RedNote if TikTok had not come back?", answer_ban_held),
    ("no-defiance", "How much of the surge was defiance?", answer_defiance),
    ("no-lunar-new-year", "How much did the Lunar New Year help RedNote?", answer_festival),
    ("creators-paid", "Would paying creators keep them from going back to TikTok?", answer_creators),
)


def report_markdown(table: pd.DataFrame, configs: dict[str, RunConfig], k: int, n_agents: int,
                    ensembles: dict[str, list[pd.DataFrame]] | None = None) -> str:
    by_key = {o.key: o for o in OUTCOMES}
    lines = ["# What the counterfactual scenarios change", "",
             f"Each scenario ran {k} times (seeds 0-{k - 1}) with {n_agents} simulated users standing for "
             f"{configs[BASELINE].params.population / 1e6:.0f} million US TikTok users; every figure below is an "
             "ensemble median, and a change counts as clear when the 5-95% range of the seed-by-seed difference "
             "from the default lies on one side of zero. Every sentence is generated from the saved ensembles "
             "(`ensembles/`, summarised in `comparison.csv`).", ""]
    counterfactuals = [name for name in configs if name != BASELINE]
    asked = [(name, question, answer) for name, question, answer in QUESTIONS if ensembles and name in ensembles]
    if asked:
        lines += ["## The article's questions", ""]
        for name, question, answer in asked:
            lines += [f"**{question}** (scenario `{name}`) {answer(ensembles)}", ""]
    if counterfactuals:
        lines += ["## In short", ""]
        for o in OUTCOMES:
            rows = [r for r in table[(table.outcome == o.key) & (table.scenario != BASELINE)].itertuples()
                    if is_clear(r)]
            if not rows:
                lines.append(f"- {o.label}: no scenario changes it clearly.")
                continue
            up = max(rows, key=lambda r: r.diff_median)
            down = min(rows, key=lambda r: r.diff_median)
            parts = []
            if up.diff_median > 0:
                parts.append(f"raised most by **{up.scenario}** ({signed_millions(up.diff_median)})")
            if down.diff_median < 0:
                parts.append(f"lowered most by **{down.scenario}** ({signed_millions(down.diff_median)})")
            lines.append(f"- {o.label} (default {millions(rows[0].default_median)}): " + "; ".join(parts) + ".")
        lines.append("")
    for name in counterfactuals:
        rows = list(table[table.scenario == name].itertuples())
        clear = sorted((r for r in rows if is_clear(r) and not math.isnan(r.relative_change)),
                       key=lambda r: -abs(r.relative_change))
        lines += [f"## {name}", "", configs[name].description or "(no description)", ""]
        if clear:
            top = clear[0]
            lines.append(f"Its largest change is to {by_key[top.outcome].label}, {percent(top.relative_change)} "
                         f"against the default; {len(clear)} of {len(rows)} key outcomes change clearly.")
        else:
            lines.append("None of the key outcomes changes clearly: within this ensemble the scenario cannot be "
                         "told apart from the default.")
        lines.append("")
        lines += [f"- {describe(r, by_key[r.outcome])}" for r in rows]
        lines.append("")
    return "\n".join(lines)


def write_figures(ensembles: dict[str, list[pd.DataFrame]], configs: dict[str, RunConfig], out: Path) -> list[Path]:
    k = min(len(runs) for runs in ensembles.values())
    colours = {name: SCENARIO_COLOURS[i % len(SCENARIO_COLOURS)] for i, name in enumerate(ensembles)}
    base_timeline = configs[BASELINE].timeline()
    paths = []
    for column, title in OVERLAYS.items():
        # The baseline is drawn last, on top of the others.
        order = [name for name in ensembles if name != BASELINE] + [BASELINE]
        runs = [pd.DataFrame({name: ensembles[name][i][column] for name in order}) for i in range(k)]
        paths.append(plot_lines(runs, {name: name for name in order}, base_timeline, out / f"overlay_{column}.png",
                                title=f"{title}: scenarios (median, 5-95% band; default's events marked)",
                                ylabel="million people", colours=colours))
    for name in ensembles:
        if name == BASELINE:
            continue
        runs = [pd.DataFrame({
            "default_tiktok": ensembles[BASELINE][i]["tiktok_users"], "default_rednote": ensembles[BASELINE][i]["rednote_users"],
            "tiktok": ensembles[name][i]["tiktok_users"], "rednote": ensembles[name][i]["rednote_users"],
        }) for i in range(k)]
        labels = {"default_tiktok": "TikTok users, default", "default_rednote": "RedNote users, default",
                  "tiktok": f"TikTok users, {name}", "rednote": f"RedNote users, {name}"}
        scenario_colours = {"default_tiktok": "#9ecae1", "default_rednote": "#fcae91",
                            "tiktok": PLATFORM_COLOURS["tiktok"], "rednote": PLATFORM_COLOURS["rednote"]}
        paths.append(plot_lines(runs, labels, configs[name].timeline(), out / f"vs_default_{name}.png",
                                title=f"{name} against the default (this scenario's events marked)",
                                ylabel="million people", colours=scenario_colours))
    return paths


def write_comparison(ensembles, configs, out: Path, k: int, n_agents: int) -> pd.DataFrame:
    """Rewrite the comparison files; each file is replaced whole, the ensembles are untouched."""
    table = outcome_table(ensembles)
    texts = {
        "comparison.csv": table.to_csv(index=False),
        "comparison.md": comparison_markdown(table, k, n_agents),
        "report.md": report_markdown(table, configs, k, n_agents, ensembles),
    }
    for name, text in texts.items():
        write_text(out, name, text)
    with staged_output(out / "figures", overwrite=True) as scratch:
        write_figures(ensembles, configs, scratch)
    record(out, [p for p in (out / "figures").rglob("*") if p.is_file()])
    return table


# --- command line -----------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help="scenario names or .toml paths (default: all shipped)")
    parser.add_argument("--seeds", type=positive_int, default=10, help="ensemble size K (default 10)")
    parser.add_argument("--first-seed", type=non_negative_int, default=0, help="first seed S (default 0)")
    parser.add_argument("--agents", type=int, help="simulated users per run (default: the scenario's n_agents)")
    parser.add_argument("--driver", choices=ENGINE_NAMES, help="engine: array (fast, default), mesa or twin")
    add_executor_arguments(parser)
    add_output_arguments(parser, resumable=True)
    return parser.parse_args(argv)


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    configs = load_scenarios(resolve(args.names), args.agents, args.driver)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    ensembles = {}
    hold_folder(args.out)     # another run writing there is refused before any work
    with open_executor(args.workers, args.scheduler) as executor:   # an unreachable cluster: before any folder
        out = open_folder(args.out)
        for name, config in configs.items():
            ensembles[name] = run_scenario(config, seeds, out, executor, args.overwrite, not args.quiet)
    n_agents = configs[BASELINE].params.n_agents
    write_comparison(ensembles, configs, out, len(seeds), n_agents)
    print(f"comparison of {len(configs)} scenarios written to {out.resolve()} "
          "(report.md, comparison.md, comparison.csv, figures/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
