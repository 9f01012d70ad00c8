"""The browser view of the Mesa driver: watch the migration happen, one day per Step.

    solara run app.py          (or: make viz)

A SolaraViz page with Mesa's Step / Play / Reset, sliders for key parameters, a scenario selector and a
seed; the social network coloured by platform state; charts on calendar dates; a status panel. It needs
no internet: solara's front end comes from the ``solara-assets`` package, and every figure is drawn with
matplotlib on the server (Altair would need vega from a CDN).

Split by concern: ``inputs`` (scenarios, seed, sliders, the model built on Reset), ``pictures`` (network
and charts), ``panels`` (status card and picture views), ``serving`` (serving the page and driving it with
a browser, for the browser test and the benchmark); this module lays the page out.
"""

from __future__ import annotations

import solara
from mesa.visualization import SolaraViz, solara_viz

from experiments.viz.inputs import (  # noqa: F401 - the view's public names, in one place
    AGENTS_ENV,
    CONFIG_ENV,
    DEFAULT_SCENARIO,
    DEFAULT_SEED,
    SCENARIO_DIR,
    SLIDERS,
    VIEW_AGENTS,
    BrowserModel,
    ViewInputError,
    available_scenarios,
    model_params,
    overridden_by_sliders,
    parse_seed,
    start_from_env,
    view_config,
)
from experiments.viz.panels import ChartsView, NetworkView, Status, StatusPanel, _people, status_of  # noqa: F401
from experiments.viz.pictures import (  # noqa: F401
    MAX_SHOWN,
    ChartsPicture,
    NetworkPicture,
    article_bands,
    charts_image,
    charts_picture,
    frame_of,
    layout_seed,
    network_image,
    network_picture,
    nice_ceiling,
    sample_users,
)

# row, the charts take the whole second one.
VIEW_LAYOUT = (
    {"i": 0, "x": 0, "y": 0, "w": 5, "h": 14, "moved": False},
    {"i": 1, "x": 5, "y": 0, "w": 7, "h": 14, "moved": False},
    {"i": 2, "x": 0, "y": 14, "w": 12, "h": 16, "moved": False},
)
_mesa_grid_layout = solara_viz.make_initial_grid_layout


def _view_grid_layout(num_components: int) -> list[dict]:
    # Mesa places every component in a half-width cell of one size; the charts need the full width.
    if num_components == len(VIEW_LAYOUT):
        return [dict(cell) for cell in VIEW_LAYOUT]
    return _mesa_grid_layout(num_components)


def make_page(model: BrowserModel | solara.Reactive | None = None):
    """The SolaraViz page for ``model`` (a new one from the environment if None). Given a reactive
    model, its ``.value`` follows Reset, which builds a new model."""
    if model is None:
        model = BrowserModel(**start_from_env())
    first = model.value if isinstance(model, solara.Reactive) else model
    solara_viz.make_initial_grid_layout = _view_grid_layout
    return SolaraViz(
        model,
        components=[(NetworkView, 0), (StatusPanel, 0), (ChartsView, 0)],
        model_params=model_params(first),
        name="RedNote migration: TikTok users under the 2025 ban",
    )
