"""How fast is the browser view? Prints a table: per Step, and from server start to first picture.

    python -m benchmarks.viz_benchmark [--agents 200 500] [--steps 10] [--no-browser]

For each number of users, measured side by side in one run (the machine is shared; compare ratios):
- model step: ``MigrationModel.step()`` alone (the Mesa agent loop), median seconds;
- Step + re-render, in process: pressing Step on the page rendered by solara's test renderer (model step,
  network and chart pictures, status panel), median seconds, timed in turns with the model step, and
  the median of their step-by-step ratio;
- Step in the browser: pressing Step in Chromium until the page shows the new day with its pictures;
- server start to first paint: from starting `solara run app.py` to the network picture on screen.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from batch.cli import command
from model.params import ParameterError, Params


def time_steps(n_agents: int, steps: int, seed: int) -> tuple[float, float, float, float]:
    """(first render, median model step, median Step with re-render, median ratio of the two).

    A bare model and the page rendered in process (solara's test renderer) step in turns, so both are
    timed under the same load."""
    import ipyvuetify as v
    import solara

    from experiments.viz import BrowserModel, make_page

    bare = BrowserModel(n_agents=n_agents, seed=seed)
    shown = BrowserModel(n_agents=n_agents, seed=seed)
    started = time.perf_counter()
    _, rc = solara.render(solara.AppLayout(children=[make_page(shown)]), handle_error=False)
    first = time.perf_counter() - started
    button = rc.find(v.Btn, children=["Step"]).widget
    model_times, page_times = [], []
    try:
        for _ in range(steps):
            started = time.perf_counter()
            bare.step()
            model_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            button.click()
            page_times.append(time.perf_counter() - started)
    finally:
        rc.close()
    assert shown.day_index == bare.day_index == steps
    ratios = [page / model for page, model in zip(page_times, model_times, strict=True)]
    return first, statistics.median(model_times), statistics.median(page_times), statistics.median(ratios)


def time_browser(n_agents: int, steps: int, seed: int, folder: Path) -> tuple[float, float, float]:
    """(server start to answer, server start to first paint, median Step in the browser)."""
    from experiments.viz.serving import chromium, open_view, press_step, serve

    config = folder / f"bench_{n_agents}.toml"
    config.write_text(f"seed = {seed}\n")
    env = {"VIZ_AGENTS": str(n_agents), "VIZ_CONFIG": str(config)}
    with chromium() as browser, serve(folder / f"solara_{n_agents}.log", env=env) as server:
        answered = server.wait()
        page, problems = open_view(browser, server.url)
        painted = time.perf_counter() - server.started
        times = []
        for day in range(1, steps + 1):
            started = time.perf_counter()
            press_step(page, day)
            times.append(time.perf_counter() - started)
        if problems:
            print(f"warning: failed requests at N={n_agents}: {problems}", file=sys.stderr)
        page.close()
    return answered, painted, statistics.median(times)


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, nargs="+", default=[200, 500], help="numbers of users to time")
    parser.add_argument("--steps", type=int, default=10, help="Steps timed per measurement (median reported)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium measurements")
    args = parser.parse_args(argv)
    try:
        for n in args.agents:
            Params().replace(n_agents=n)
        if args.steps < 1:
            raise ParameterError(f"--steps must be at least 1, got {args.steps}")
    except ParameterError as err:
        parser.error(str(err))
    use_browser = not args.no_browser
    if use_browser:
        from experiments.viz.serving import find_chromium

        if find_chromium() is None:
            print("Chromium not found: browser columns skipped (apt-get install chromium)", file=sys.stderr)
            use_browser = False

    rows = []
    with tempfile.TemporaryDirectory(prefix="viz-bench-") as scratch:
        for n in tqdm(args.agents, desc="users", unit="N", file=sys.stderr):
            first_render, model_step, page_step, ratio = time_steps(n, args.steps, args.seed)
            browser = time_browser(n, args.steps, args.seed, Path(scratch)) if use_browser else None
            rows.append((n, model_step, first_render, page_step, ratio, browser))

    print()
    print("| users | model step (s) | first render, in process (s) | Step + re-render, in process (s) | "
          "Step + re-render / model step | Step in browser (s) | server start to answer (s) | "
          "server start to first paint (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, model_step, first_render, page_step, ratio, browser in rows:
        answered, painted, browser_step = browser if browser else (float("nan"),) * 3
        print(f"| {n} | {model_step:.3f} | {first_render:.2f} | {page_step:.3f} | {ratio:.1f} | "
              f"{browser_step:.3f} | {answered:.1f} | {painted:.1f} |")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nmedians over {args.steps} Steps from the first day of the default scenario, seed {args.seed}; "
          f"{os.cpu_count()} CPUs, load average {load} (1, 5, 15 min) at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
