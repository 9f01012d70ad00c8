"""Serving the browser view and driving it with a real browser: used by the browser test and the benchmark.

The browser is Debian's Chromium (``apt-get install chromium``), driven by Playwright: Playwright's own
browser download cannot work without the internet.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from batch.cli import command

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
NETWORK_IMAGE = "img.rednote-network"
CHARTS_IMAGE = "img.rednote-charts"
STATUS = ".rednote-status"


def find_chromium() -> str | None:
    """Chromium's executable: $CHROMIUM if set, else Debian's, else one on PATH; None if there is none."""
    candidates = [os.environ.get("CHROMIUM", ""), *CHROMIUM_PATHS, shutil.which("chromium") or ""]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Server:
    url: str
    started: float          # time.perf_counter() when the server process was started
    process: subprocess.Popen
    log: Path

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait(self, timeout: float = 180.0) -> float:
        """Wait until the server answers; return the seconds since it was started."""
        while time.perf_counter() - self.started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"solara exited with {self.process.returncode}; see {self.log}:\n"
                                   f"{self.log.read_text()[-3000:]}")
            if self.answers():
                return time.perf_counter() - self.started
            time.sleep(0.2)
        raise TimeoutError(f"solara did not answer at {self.url} within {timeout:.0f} s; see {self.log}")


@contextlib.contextmanager
def serve(log: Path, env: dict[str, str] | None = None):
    """Run ``solara run app.py`` on a free local port; yield the Server; stop it afterwards.

    ``--production``: without it solara's first run on a machine loads a check page from solara.dev,
    a failed request offline."""
    port = free_port()
    environment = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False", **(env or {})}
    command = [sys.executable, "-m", "solara", "run", "app.py", "--host", "127.0.0.1", "--port", str(port),
               "--no-open", "--production"]
    with open(log, "w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}/", started, process, Path(log))
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def chromium():
    """A headless Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        raise RuntimeError("Chromium not found: install it with `apt-get install chromium` (.ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def open_view(browser, url: str, timeout_ms: float = 180_000, viewport: tuple[int, int] = (1500, 1250)):
    """Open the page and wait for the network picture; return (page, problems), ``problems`` collecting
    every failed request and every HTTP error answer from then on."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    problems: list[str] = []
    page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: problems.append(f"{r.url}: HTTP {r.status}") if r.status >= 400 else None)
    page.goto(url, timeout=timeout_ms)
    page.locator(NETWORK_IMAGE).wait_for(state="visible", timeout=timeout_ms)
    page.locator(CHARTS_IMAGE).wait_for(state="visible", timeout=timeout_ms)
    return page, problems


def press_step(page, day: int, timeout_ms: float = 60_000) -> None:
    """Press Step and wait until the page shows ``day`` with its pictures loaded. (A picture whose pixels
    did not change keeps its old image: a quiet day moves nobody.)"""
    page.get_by_role("button", name="Step").click()
    page.wait_for_function(
        """([images, status, day]) => {
            const text = document.querySelector(status);
            return text && text.innerText.includes(`(day ${day} of`)
                && images.every(s => { const img = document.querySelector(s); return img && img.complete; });
        }""",
        arg=[[NETWORK_IMAGE, CHARTS_IMAGE], STATUS, day], timeout=timeout_ms,
    )


def wait_for_new_image(page, selector: str, old_src: str, timeout_ms: float = 30_000) -> None:
    page.wait_for_function(
        """([selector, old]) => { const img = document.querySelector(selector);
                                 return img && img.complete && img.src !== old; }""",
        arg=[selector, old_src], timeout=timeout_ms,
    )


def save_screenshot(path: Path, days: int = 80, log: Path | None = None) -> Path:
    """The README's picture of the page: the default view served, Stepped ``days`` times, then captured.

        python -m experiments.viz.serving docs/viz-screenshot.png
    """
    import tempfile

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="viz-shot-") as scratch:
        with serve(Path(log or Path(scratch) / "solara.log")) as server:
            server.wait()
            with chromium() as browser:
                page, _ = open_view(browser, server.url)
                for day in range(1, days + 1):
                    press_step(page, day)
                page.screenshot(path=str(path), full_page=True)
                page.close()
    return path


@command
def main(argv=None) -> int:
    """``python -m experiments.viz.serving [PATH]``: the README's screenshot (``save_screenshot``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m experiments.viz.serving", description=main.__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=ROOT / "docs" / "viz-screenshot.png",
                        help="where to write the PNG (default docs/viz-screenshot.png)")
    print(f"screenshot written to {save_screenshot(parser.parse_args(argv).path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
