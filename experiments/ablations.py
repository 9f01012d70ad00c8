"""Switch off one driver at a time and see which of the article's targets (or of an observation file's
figures) need it.

    python -m experiments.ablations --seeds 8 --out outputs/ablations
    python -m experiments.ablations --config scenarios/observed-2025-01.toml \
        --observations data/observations/january-2025.toml --end 2025-02-28 --seeds 20 --out outputs/abl-observed

Each ablation is the default model with one mechanism removed; every ensemble is evaluated on every
target. A target *needs* a driver when the default ensemble's median meets it and the ablated one's
does not. With ``--observations`` the targets are that file's figures, each read as ``experiments.check``
reads it (the median figure over the seeds, a scaled source at the scale fitted to the medians, met inside
its band or within two sds); ``--end`` cuts every run short (the figures need only January and February).
Writes ``ablations.csv`` (median of each target under each ablation), ``needs.md`` (the table)
and ``ablations.png`` (share of seeds meeting each target). Ensembles resume from ``OUT/<ablation>/runs``
(``batch.ensemble``: a saved run made otherwise is refused, or rerun with ``--overwrite``).

``ABLATIONS`` is a plain table: a new mechanism's ablation is one more row.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from batch.cli import add_ensemble_arguments, command  # noqa: E402
from batch.ensemble import Ensemble, run_ensemble  # noqa: E402
from batch.errors import InputError  # noqa: E402
from batch.executor import open_executor  # noqa: E402
from batch.outcomes import MIN_SEEDS_FOR_RANGE  # noqa: E402
from batch.outputs import hold_folder, open_folder, record, safe_name, write_text  # noqa: E402
from experiments.reproduce_article import summarise  # noqa: E402
from model.config import RunConfig, load_config  # noqa: E402
from model.observations import load_observations, peak_days_as_dates  # noqa: E402
from model.targets import evaluate, load_targets  # noqa: E402
from model.timeline import Timeline  # noqa: E402

BAN_FIELDS = ("tiktok_service", "tiktok_in_app_stores", "enforcement_deadline", "ban_resolved")


def without_ban_events(timeline: Timeline) -> Timeline:
    """The timeline with every event that changes the ban's status removed (the festival stays)."""
    kept = tuple(e for e in timeline.events if all(getattr(e, f) is None for f in BAN_FIELDS))
    return Timeline(kept, source=f"{timeline.source} without ban events")


@dataclasses.dataclass(frozen=True)
class Ablation:
    name: str
    driver: str
    overrides: dict
    drop_ban_events: bool = False


ABLATIONS = (
    Ablation("default", "nothing removed", {}),
    Ablation("no_ban_events", "ban events (M1)", {}, drop_ban_events=True),
    Ablation("no_defiance", "defiance (M2)", {"defiance_weight": 0.0}),
    Ablation("no_substitute", "substitute pull (M3)", {"substitute_pull": 0.0}),
    Ablation("no_stickiness", "stickiness (M4)", {"stickiness_weight": 0.0}),
    Ablation("no_network_pull", "network pull", {"network_pull": 0.0}),
    Ablation("no_creator_difference", "creators' difference (M6)",
             {"creator_extra_attention": 0.0, "creator_audience_weight": 0.0, "creator_lifestyle_taste_mean": None}),
    Ablation("no_dual_use", "dual use (D3)", {"attention_cost": 20.0}),
    Ablation("no_festival", "Lunar New Year", {"festival_boost": 0.0}),
    # Everyone knows RedNote from the start: its not being known before January is what the model removes.
    Ablation("no_familiarity", "familiarity (A2)", {"unfamiliarity_cost": 0.0}),
    Ablation("no_wave_coverage", "the wave's coverage", {"wave_coverage": 0.0}),
    # Issue 15's mechanisms, each at the value that removes it exactly (most are off in the article's
    # calibration, so they matter with --config scenarios/observed-2025-01.toml).
    Ablation("no_experience_good", "experience-good learning", {"fit_spread": 0.0, "creator_fit_shift": 0.0}),
    Ablation("no_moment", "engagement of the moment", {"novelty_activity": 0.0, "attention_activity": 0.0}),
    Ablation("no_dormant_return", "dormant accounts' return", {"dormant_return_cost": 1.0}),
    Ablation("no_install_drive", "installs apart from use", {"install_chart_pull": 0.0, "install_store_pull": 0.0}),
    Ablation("no_outside_option", "the outside option", {"outside_option": 0}),
    Ablation("no_news_spread", "news that spreads", {"news_lag_days": 0.0, "news_echo": 0.0}),
    Ablation("no_news_echo", "the news's echo", {"news_echo": 0.0}),
    Ablation("no_migration_news", "the migration as dated news", {"migration_news_weight": 0.0}),
    Ablation("no_time_split", "a day's time shared", {"tiktok_time_split": 0.0}),
)


def ablated_config(base: RunConfig, ablation: Ablation) -> RunConfig:
    overrides = dict(ablation.overrides)
    if "creator_lifestyle_taste_mean" in overrides:   # creators taste like everyone else
        overrides["creator_lifestyle_taste_mean"] = base.params.lifestyle_taste_mean
    return dataclasses.replace(base, params=base.params.replace(**overrides), name=ablation.name)


def observation_summary(observations, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Per observation (index): the ensemble's median figure, the share of seeds meeting it and whether the
    median meets it, as ``experiments.check`` reads them (the columns ``summarise`` gives for targets)."""
    from experiments.check import check_table

    table, _ = check_table(observations, [observations.read(f) for f in frames])
    return pd.DataFrame({"median": table["median_value"].to_numpy(), "seeds_inside": table["seeds_meeting"].to_numpy(),
                         "passed": table["met"].to_numpy(dtype=bool),
                         "reading": [o.reading for o in observations]}, index=pd.Index(table["observation"], name="target"))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="names of ablations to run (default: all)")
    parser.add_argument("--observations", type=Path,
                        help="an observation file (model/observations.py): its figures are the targets")
    parser.add_argument("--end", help="last simulated day of every run (YYYY-MM-DD; default: the config's)")
    add_ensemble_arguments(parser, seeds=8, out=Path("outputs/ablations"))
    return parser.parse_args(argv)


def provenance(seeds: list[int], base: RunConfig) -> str:
    """What the table comes from, and a warning in the file itself when its seeds are few: a target's
    median (and whether it meets its band) moves with each seed, and the shares of seeds inside move in
    steps of 1/K."""
    text = (f"Seeds {seeds[0]}-{seeds[-1]} ({len(seeds)} seeds), {base.params.n_agents} simulated users each, "
            f"engine `{base.driver}`; the base config, with the code version, is `config.toml` beside this file. "
            "A target needs a driver when the default's ensemble median meets its band and the median without "
            "the driver does not.\n\n")
    if len(seeds) < MIN_SEEDS_FOR_RANGE:
        text += (f"**Warning:** from {len(seeds)} seeds, not to be trusted: each median can move with one seed and "
                 f"each share of seeds inside moves in steps of {1 / len(seeds):.0%} (at least "
                 f"{MIN_SEEDS_FOR_RANGE} seeds, as for the article's acceptance).\n\n")
    return text


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    names = [safe_name(a.name, "ablation name") for a in ABLATIONS]
    unknown = set(args.only or []) - set(names)
    if unknown:
        raise InputError(f"unknown ablation(s) {sorted(unknown)}; choose from {names}")
    overrides = {"end": args.end} if args.end else {}
    base = load_config(args.config, n_agents=args.agents, **overrides)
    observations = load_observations(args.observations) if args.observations else None
    if observations is not None:   # a bad file or a run too short for it stops here, before any run
        observations.check_period(base.params.start, base.params.end)
    chosen = [a for a in ABLATIONS if a.name == "default" or not args.only or a.name in args.only]
    configs = {a.name: ablated_config(base, a) for a in chosen}

    spec = load_targets()
    base_timeline = base.timeline()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    medians, inside, passed = {}, {}, {}
    peak_dates = set()   # targets read as a day number: the table a person reads gives them as dates
    hold_folder(args.out)     # another run writing there is refused before any work
    with open_executor(args.workers, args.scheduler) as executor:   # an unreachable cluster: before any folder
        out = open_folder(args.out)
        # What made the table, beside it (rerun with --config; the seeds and size are in needs.md).
        write_text(out, "config.toml", base.to_toml(folder=out))
        for ablation in chosen:
            timeline = without_ban_events(base_timeline) if ablation.drop_ban_events else base_timeline
            frames = run_ensemble(Ensemble.of(configs[ablation.name], timeline), seeds, out / ablation.name / "runs",
                                  executor=executor, overwrite=args.overwrite, progress=not args.quiet,
                                  desc=ablation.name, out=out)
            summary = (observation_summary(observations, frames) if observations is not None
                       else summarise([evaluate(f, spec) for f in frames]).set_index("target"))
            medians[ablation.driver] = summary["median"]
            peak_dates |= set(summary.index[summary["reading"] == "peak_date"])
            inside[ablation.driver] = summary["seeds_inside"]
            passed[ablation.driver] = summary["passed"]

    medians, inside, passed = pd.DataFrame(medians), pd.DataFrame(inside), pd.DataFrame(passed)
    readings = ["peak_date" if target in peak_dates else None for target in medians.index]
    write_text(out, "ablations.csv", peak_days_as_dates(medians, readings, medians.columns).to_csv())
    write_text(out, "seeds_inside.csv", inside.to_csv())
    default = passed["nothing removed"]
    needs = passed.drop(columns="nothing removed").apply(lambda col: default & ~col)
    lines = ["| driver switched off | targets it is needed for (met by default, missed without it) |", "|---|---|"]
    for driver in needs.columns:
        targets = [t for t in needs.index if needs.at[t, driver]]
        lines.append(f"| {driver} | {', '.join(targets) if targets else '**none**'} |")
    table = "\n".join(lines)
    write_text(out, "needs.md", "# Which targets need which driver\n\n" + provenance(seeds, base) + table
               + "\n\nMedian of each target under each ablation: `ablations.csv` (empty where no seed could "
               "measure it).\n")

    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(inside.columns), 0.32 * len(inside) + 2))
    ax.imshow(inside.to_numpy(dtype=float), cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(np.arange(len(inside.columns)), inside.columns, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(np.arange(len(inside)), inside.index, fontsize=7)
    for (i, j), v in np.ndenumerate(inside.to_numpy(dtype=float)):
        ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=6)
    ax.set_title("Share of seeds meeting each target, one driver switched off at a time", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "ablations.png", dpi=120)
    plt.close(fig)
    record(out, [out / "ablations.png"])
    print(table)
    print(f"\ntables and figure in {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
