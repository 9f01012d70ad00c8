"""The browser view's panels: the status card (the day, the ban's status, the headline figures of the run
so far from the outcome registry, the parameters and the config to rerun) and the two pictures' views."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html

import solara
from mesa.visualization.utils import update_counter

from batch import outcomes
from experiments.viz.inputs import DEFAULT_SCENARIO, DEFAULT_SEED, SLIDERS, VIEW_AGENTS
from experiments.viz.pictures import ChartsPicture, NetworkPicture, charts_image, frame_of, network_image
from model.migration_model import MigrationModel

# --- the status panel ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Status:
    day: dt.date                 # the last simulated day (the first day before any Step)
    days_done: int
    days_total: int
    tiktok_service: bool
    tiktok_in_stores: bool
    deadline: dt.date | None
    headline: dict[str, str]

    @property
    def days_to_deadline(self) -> int | None:
        return None if self.deadline is None else (self.deadline - self.day).days


def _people(value: float) -> str:
    return f"{value / 1e6:,.1f} M" if abs(value) >= 1e5 else f"{value:,.0f}"


def status_of(model: MigrationModel) -> Status:
    """Today's ban status and the headline figures of the run so far."""
    signals = model.signals
    done = model.day_index
    i = max(done - 1, 0)
    frame = frame_of(model)
    headline: dict[str, str] = {}
    if len(frame):
        for key in outcomes.BROWSER:
            outcome = outcomes.OUTCOMES[key]
            headline[outcome.label] = _people(outcome.value(frame))
        peak = outcomes.OUTCOMES["peak_daily_downloads"].label
        headline[peak] += f" on {outcomes.OUTCOMES['peak_daily_downloads_date'].value(frame)}"
    return Status(
        day=signals.dates[i], days_done=done, days_total=len(signals),
        tiktok_service=bool(signals.tiktok_service[i]), tiktok_in_stores=bool(signals.tiktok_in_stores[i]),
        deadline=signals.deadline[i], headline=headline,
    )


# --- solara components ---------------------------------------------------------------------------------

def _on_off(flag: bool, on: str, off: str) -> str:
    colour = "#2e7d32" if flag else "#c62828"
    return f'<b style="color:{colour}">{on if flag else off}</b>'


def _text(value) -> str:
    return html.escape(str(value))


@solara.component
def StatusPanel(model):
    update_counter.get()
    status = status_of(model)
    # The card keeps to its cell and scrolls: grown past it (the headline rows come with the first Step) it
    # would lie under the charts, whose cell is drawn over it, and its last rows could not be clicked.
    with solara.Column(classes=["rednote-status"], style={"padding": "8px", "overflow": "auto", "height": "100%",
                                                          "box-sizing": "border-box"}):
        if getattr(model, "problem", None):
            solara.Error(f"These settings were not applied: {model.problem}. Showing the default scenario "
                         f"(seed {DEFAULT_SEED}, {VIEW_AGENTS} users) instead; change them and press Reset.")
        when = (f"{status.day:%a %d %b %Y} (day {status.days_done} of {status.days_total})" if status.days_done
                else f"{status.day:%a %d %b %Y}: not simulated yet, press Step or Play")
        if status.deadline is None:
            deadline = "none in force"
        else:
            deadline = f"{status.deadline:%d %b %Y} ({status.days_to_deadline:+d} days)"
        config = getattr(model, "config", None)
        scenario = getattr(model, "scenario_name", DEFAULT_SCENARIO)
        rows = [
            ("Today", _text(when)),
            ("TikTok service", _on_off(status.tiktok_service, "on", "OFF (dark)")),
            ("TikTok in app stores", _on_off(status.tiktok_in_stores, "yes", "no")),
            ("Next enforcement deadline", _text(deadline)),
            ("Scenario", _text(scenario + (f": {config.description}" if config and config.description else ""))),
            ("Users", _text(f"{model.params.n_agents:,} agents, each {model.params.people_per_agent:,.0f} people; "
                            f"seed {getattr(model, 'seed', '?')}")),
            *((label, _text(value)) for label, value in status.headline.items()),
        ]
        rows.append(("Parameters", _text(", ".join(f"{name} {getattr(model.params, name):g}" for name in SLIDERS))))
        overridden = getattr(model, "overridden", {})
        if overridden:
            rows.append(("Sliders replaced", _text("; ".join(
                f"{name} {used} (scenario: {own})" for name, (own, used) in overridden.items()))))
        body = "".join(f"<tr><td style='padding:1px 10px 1px 0;color:#555'>{k}</td><td>{v}</td></tr>"
                       for k, v in rows)
        solara.HTML(tag="div", unsafe_innerHTML=f"<table style='font-size:14px'>{body}</table>")
        if config is not None:
            # The exact run on this page: saved as a file, `experiments.run --config FILE` repeats it.
            solara.Details("Config to rerun this run", children=[
                solara.Preformatted(config.to_toml(), style_="font-size:11px; white-space:pre-wrap")])


@solara.component
def NetworkView(model):
    update_counter.get()
    image = solara.use_memo(lambda: network_image(model), dependencies=[model, model.day_index])
    solara.Image(image, format=NetworkPicture.FORMAT, width="100%", classes=["rednote-network"])


@solara.component
def ChartsView(model):
    update_counter.get()
    image = solara.use_memo(lambda: charts_image(model), dependencies=[model, model.day_index])
    solara.Image(image, format=ChartsPicture.FORMAT, width="100%", classes=["rednote-charts"])


# Grid units: 12 columns; rows of 30 px plus 10 px margin. The network and the status share the first
