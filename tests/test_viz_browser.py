"""The browser view in a real browser: `solara run app.py` served locally, Debian's Chromium driving it.

Catches what the in-process test cannot: a blank page (front-end versions), assets fetched from a CDN,
pictures that never reach the screen. Screenshots are left in the test's tmp folder for a person to see.
"""

import io
import shutil
import textwrap
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from experiments.plots import STATE_COLOURS
from experiments.viz.serving import (
    CHARTS_IMAGE,
    NETWORK_IMAGE,
    STATUS,
    chromium,
    find_chromium,
    open_view,
    press_step,
    serve,
    wait_for_new_image,
)
from model.timeline import DEFAULT_TIMELINE

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium not found (/usr/bin/chromium): `apt-get install chromium`; .ci/run installs it",
)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def near(image: np.ndarray, colour: str, tolerance: int = 40) -> int:
    """How many pixels are within ``tolerance`` (per channel) of a colour."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image - rgb).max(axis=2) <= tolerance).sum())


def changed_share(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return 1.0
    return float((np.abs(a - b).max(axis=2) > 30).mean())


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The page starting on 15 January 2025 with the real timeline: five Steps reach the blackout."""
    folder = tmp_path_factory.mktemp("viz-browser")
    config = folder / "blackout_week.toml"
    config.write_text(textwrap.dedent(f"""
        name = "blackout_week"
        description = "the default timeline from 15 January 2025"
        seed = 2
        timeline = "{DEFAULT_TIMELINE}"

        [params]
        n_agents = 200
        start = 2025-01-15
        """))
    with serve(folder / "solara.log", env={"VIZ_CONFIG": str(config), "VIZ_AGENTS": "200"}) as server:
        server.wait()
        yield server, folder


def test_page_draws_offline_and_five_steps_change_network_and_charts(served):
    server, folder = served
    with chromium() as browser:
        page, problems = open_view(browser, server.url)
        status = page.locator(STATUS)
        assert "not simulated yet" in status.inner_text()
        network = pixels(page.locator(NETWORK_IMAGE).screenshot())
        charts = pixels(page.locator(CHARTS_IMAGE).screenshot())
        page.screenshot(path=folder / "page-start.png", full_page=True)
        sources = {s: page.locator(s).get_attribute("src") for s in (NETWORK_IMAGE, CHARTS_IMAGE)}

        # Drawn, not blank: the users are there in TikTok's colour, and the charts are more than white.
        assert network.shape[0] > 200 and network.shape[1] > 200
        assert near(network, STATE_COLOURS["tiktok_only"]) > 500
        assert (network.min(axis=2) < 200).mean() > 0.03
        assert (charts.min(axis=2) < 200).mean() > 0.03

        for day in range(1, 6):
            press_step(page, day)
        for selector, old in sources.items():
            wait_for_new_image(page, selector, old)
        text = status.inner_text()
        assert "(day 5 of" in text and "Sun 19 Jan 2025" in text
        assert "OFF" in text   # the blackout of 19 January is on the status panel
        # The status card's last rows stay clickable after stepping: grown past its cell, the card once lay
        # under the charts (Playwright's click fails on an element another one covers).
        page.locator(STATUS).get_by_text("Parameters", exact=True).click(timeout=15_000)
        page.locator(STATUS).get_by_text("Config to rerun this run").click(timeout=15_000)
        page.wait_for_function("s => document.querySelector(s).innerText.includes('n_agents = 200')", arg=STATUS,
                               timeout=15_000)
        network_after = pixels(page.locator(NETWORK_IMAGE).screenshot())
        charts_after = pixels(page.locator(CHARTS_IMAGE).screenshot())
        shot = folder / "page-after-5-steps.png"
        page.screenshot(path=shot, full_page=True)
        assert changed_share(network, network_after) > 0.002
        assert changed_share(charts, charts_after) > 0.002

        # Reset with nothing moved: day 0 again, the same parameters (no slider drifted in the browser).
        before = text.split("Parameters", 1)[1]
        page.get_by_role("button", name="Reset").click()
        page.wait_for_function(
            "s => document.querySelector(s).innerText.includes('not simulated yet')", arg=STATUS, timeout=60_000)
        assert status.inner_text().split("Parameters", 1)[1].split("Config to rerun")[0] == \
            before.split("Config to rerun")[0]
        assert problems == [], f"failed requests: {problems}"
        page.close()
    print(f"screenshots: {folder}")
    if shot.is_file():
        shutil.copy(shot, Path(folder) / "latest.png")
