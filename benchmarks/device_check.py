"""Issue 17's targets measured in one short run on a quiet machine (a lent machine with many cores and,
perhaps, a GPU), side by side, within a wall-time budget (6 minutes by default).

    PYTHONPATH=. python3 -m benchmarks.device_check --probe .probe/fused_kernel_probe_icdf.py \
        --wheels .whl --out "$OUT"
    PYTHONPATH=. python3 -m benchmarks.device_check --quick --probe PROBE --out /tmp/check   # a small try

It needs no installed project (the repository root on PYTHONPATH) and, besides numpy, numba, pandas,
scipy and networkx, only Mesa for the Mesa row: Mesa 3.5.1 and tqdm (its one requirement beyond those)
can come as pure-Python wheels in ``--wheels``, which are unpacked into a temporary folder for the run
(no pip needed). Without Mesa the Mesa row says so and the rest runs.

Rows, in the order they run (the most wanted first, so a budget that runs out loses the least):
- the probe (``--probe``, the per-core measuring stick, a program outside the project) at ``--users``;
- the compiled engine at ``--users`` (1e6) for ``--days`` (a year) on 1 thread, on every core, on 2;
- the Mesa driver at ``--mesa-users`` (1e5) for ``--mesa-days`` (10), and the compiled engine at the same
  size on every core and on 1 thread (the 500x row);
- the numpy path at ``--users``;
- the compiled engine at ``--large-users`` (1e7) on every core for ``--large-days`` (its peak memory).
Each row is a fresh process (``benchmarks.benchmark``'s child), given what is left of the budget; a row
that would not finish is stopped and marked. The table and the targets under it are written to
``--out`` (``device_check.md``, and every row as JSON lines in ``device_check.jsonl``) as rows finish.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

# batch.cli imports the standard library only: runs without the project installed
from batch.cli import command
from benchmarks import benchmark

ROOT = Path(__file__).resolve().parent.parent
FULL = {"users": 1_000_000, "days": benchmark.YEAR, "mesa_users": 100_000, "mesa_days": 10,
        "large_users": 10_000_000, "large_days": 10}
QUICK = {"users": 20_000, "days": 30, "mesa_users": 2_000, "mesa_days": 2, "large_users": 50_000, "large_days": 3}


def unpack_wheels(folder: Path, into: Path) -> list[str]:
    """Unpack every wheel in ``folder`` into ``into`` (a pure-Python wheel is a zip of its importable
    files: unpacked, it is installed for a PYTHONPATH). Returns the wheels' names."""
    names = []
    for wheel in sorted(folder.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(into)
        names.append(wheel.name)
    return names


def run_row(task: dict, seconds_left: float, env: dict) -> dict:
    """One measurement in a fresh process (the benchmark's child), stopped when the budget is spent."""
    if seconds_left < 5:
        return {**task, "error": "not run: the time budget was spent"}
    if task["kind"] == "probe":
        command = [sys.executable, task["path"], str(task["n"])]
    else:
        child = {key: value for key, value in task.items() if key != "label"}
        command = [sys.executable, "-m", "benchmarks.benchmark", "--child", json.dumps(child)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, env=env,
                              timeout=seconds_left)
    except subprocess.TimeoutExpired:
        return {**task, "error": f"stopped after {seconds_left:.0f} s (the time budget)"}
    if done.returncode != 0:
        return {**task, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    if task["kind"] == "probe":
        found = re.search(r"([0-9.]+) M agent-steps/s", done.stdout)
        if not found:
            return {**task, "error": "the probe printed no figure"}
        return {**task, "steps_per_second": float(found.group(1)) * 1e6, "line": done.stdout.strip(),
                "wall_seconds": time.perf_counter() - started}
    row = {"kind": task["kind"], **json.loads(done.stdout.strip().splitlines()[-1])}
    row["wall_seconds"] = time.perf_counter() - started
    return row


def plan(sizes: dict, probe: str, all_threads: int, seed: int) -> list[dict]:
    """The rows, most wanted first."""
    n, days = sizes["users"], sizes["days"]

    def array(n, days, threads, engine="compiled"):
        return {"kind": "driver", "driver": "array", "n": n, "days": days, "seed": seed, "engine": engine,
                "threads": threads}

    # The probe on each side of the one-thread row: the per-core ratio reads their mean, so a machine that
    # speeds up or slows down while the rows run moves both sides of the ratio alike.
    rows = [{"kind": "probe", "path": probe, "n": n}, array(n, days, 1), {"kind": "probe", "path": probe, "n": n},
            array(n, days, all_threads)]
    if all_threads > 1:
        rows.append({"kind": "scaling", "n": n, "days": days, "seed": seed, "threads": 2})
    if all_threads > 2:
        rows.append(array(n, days, 2))
    rows += [{"kind": "driver", "driver": "mesa", "n": sizes["mesa_users"], "days": sizes["mesa_days"], "seed": seed},
             array(sizes["mesa_users"], days, all_threads), array(sizes["mesa_users"], days, 1),
             array(n, days, None, engine="numpy"),
             array(sizes["large_users"], sizes["large_days"], all_threads)]
    return rows


def _steps(row: dict, cpu: bool = False) -> float:
    return row["n"] * row["days"] / (row["run_cpu_seconds"] if cpu else row["run_seconds"])


def target_lines(rows: list[dict], probe: dict | None, sizes: dict, all_threads: int) -> list[str]:
    """The issue's targets from this run's rows (wall time: the machine is quiet)."""
    ok = [r for r in rows if "error" not in r and r.get("driver")]

    def find(n, test):
        return next((r for r in ok if r["n"] == n and test(r)), None)

    def compiled(threads):
        return lambda r: r["driver"] == "array" and r.get("engine") == "compiled" and r.get("threads") == threads

    def day(r):
        return r["run_seconds"] / r["days"]

    n, mesa_n = sizes["users"], sizes["mesa_users"]
    one, two, every = find(n, compiled(1)), find(n, compiled(2)), find(n, compiled(all_threads))
    numpy_path = find(n, lambda r: r["driver"] == "array" and r.get("engine") == "numpy")
    lines = []
    if one and probe and "error" not in probe:
        for label, cpu in (("wall", False), ("CPU", True)):
            ratio = _steps(one, cpu) / probe["steps_per_second"]
            lines.append(f"- one core ({label} s): compiled engine {_steps(one, cpu) / 1e6:.1f} M agent-steps/s at "
                         f"{n:,} users, probe {probe['steps_per_second'] / 1e6:.1f} M: {ratio:.2f}x the probe "
                         f"(target {benchmark.PER_CORE_OF_PROBE}x)")
    for threads, other in sorted({2: two, all_threads: every}.items()):
        if one and other and threads > 1:
            lines.append(f"- {threads} threads against one at {n:,} users (wall time per day): {day(one) / day(other):.2f}x"
                         f" (target for 2 threads: {benchmark.ALL_CORES_SPEEDUP}x); "
                         f"{other['run_cpu_seconds'] / other['run_seconds']:.1f} cores busy on average")
    scaling = next((r for r in rows if r.get("kind") == "scaling" and "error" not in r), None)
    if scaling:
        lines.append(benchmark.scaling_line(scaling))
    if one and numpy_path:
        lines.append(f"- compiled engine (1 thread) against the numpy path at {n:,} (wall per day): "
                     f"{day(numpy_path) / day(one):.1f}x")
    mesa = find(mesa_n, lambda r: r["driver"] == "mesa")
    for threads in sorted({all_threads, 1}, reverse=True):
        array = find(mesa_n, compiled(threads))
        if mesa and array:
            used = array.get("threads_used", threads)
            lines.append(f"- compiled engine ({used} thread{'s' if used != 1 else ''} used) against the Mesa "
                         f"driver at {mesa_n:,} users (wall per day): {day(mesa) / day(array):,.0f}x "
                         f"(target {benchmark.MESA_SPEEDUP}x)")
    if every:
        lines.append(f"- a year of {n:,} users on {all_threads} threads, model build included: "
                     f"{day(every) * benchmark.YEAR + every['build_seconds']:.1f} s (target 20 s)")
    large = find(sizes["large_users"], lambda r: r["driver"] == "array")
    if large:
        lines.append(f"- {large['n']:,} users: peak {large['peak_mb']:,.0f} MB, {day(large) * 1000:,.0f} ms per day "
                     f"on {large.get('threads_used')} thread(s)")
    return lines


def describe_machine() -> str:
    gpu = ""
    if shutil.which("nvidia-smi"):
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
        gpu = "; " + " / ".join(done.stdout.strip().splitlines()) if done.returncode == 0 else ""
    import numpy

    try:
        import numba
        numba_version = numba.__version__
    except ImportError:
        numba_version = "absent"
    return (f"{benchmark.machine()}; numba {numba_version}; {platform.node() or 'host'}{gpu}; Python at "
            f"{sys.executable}; numpy {numpy.__version__}")


def combined_probe(rows: list[dict]) -> dict | None:
    """The probe rows as one: the mean of their agent-steps per second (None when none ran; the first
    error when none succeeded)."""
    probes = [r for r in rows if r["kind"] == "probe"]
    ran = [r for r in probes if "error" not in r]
    if not ran:
        return probes[0] if probes else None
    mean = sum(r["steps_per_second"] for r in ran) / len(ran)
    figures = ", ".join(f"{r['steps_per_second'] / 1e6:.1f}" for r in ran)
    return {**ran[0], "steps_per_second": mean,
            "line": f"{ran[0]['line']}" if len(ran) == 1 else
            f"{len(ran)} runs, {figures} M agent-steps/s: mean {mean / 1e6:.1f} M (one core)"}


def report(rows: list[dict], sizes: dict, all_threads: int, header: str, seconds: float) -> str:
    probe = combined_probe(rows)
    drivers = [r for r in rows if r["kind"] == "driver"]
    parts = [f"Machine: {header}", f"Load average at the end {os.getloadavg()[0]:.1f}; {seconds:.0f} s in all.", "",
             benchmark.driver_table(drivers), ""]
    if probe is not None:
        parts.append(f"Probe ({probe['path']}), same run: {probe.get('line', probe.get('error'))}")
    parts += ["", "Targets (issue 17), from the rows above:",
              *target_lines(rows, probe, sizes, all_threads)]
    return "\n".join(parts) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for device_check.md and device_check.jsonl")
    parser.add_argument("--probe", default=str(benchmark.PROBE), help="the per-core measuring stick (a script)")
    parser.add_argument("--wheels", help="a folder of pure-Python wheels (Mesa, tqdm) to unpack for the run")
    parser.add_argument("--budget", type=float, default=330, help="wall seconds for all rows (default 330)")
    parser.add_argument("--quick", action="store_true", help="small sizes, to check that it runs")
    parser.add_argument("--seed", type=int, default=1)
    for name, value in FULL.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None,
                            help=f"default {value:,} ({QUICK[name]:,} with --quick)")
    args = parser.parse_args(argv)
    if args.budget <= 0:
        parser.error("--budget must be positive")
    for name in FULL:
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    sizes = {name: getattr(args, name) or (QUICK if args.quick else FULL)[name] for name in FULL}
    sizes["days"] = min(sizes["days"], benchmark.YEAR)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    paths = [str(ROOT)]
    scratch = Path(tempfile.mkdtemp(prefix="device-check-"))
    try:
        if args.wheels:
            unpacked = unpack_wheels(Path(args.wheels), scratch / "site")
            print(f"wheels unpacked for this run: {', '.join(unpacked) or 'none found'}", flush=True)
            paths.append(str(scratch / "site"))
        env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        # Compiled code is cached for this run only: a cold cache is what a fresh machine has, and the
        # first array row (whose first day is untimed) pays the compilation.
        env.setdefault("NUMBA_CACHE_DIR", str(scratch / "numba-cache"))
        from model.compiled_day import max_threads

        all_threads = max_threads()
        header = describe_machine()
        print(f"Machine: {header}\nsizes: {sizes}; budget {args.budget:.0f} s", flush=True)
        rows = []
        for task in plan(sizes, args.probe, all_threads, args.seed):
            left = args.budget - (time.perf_counter() - started)
            row = run_row(task, left, env)
            rows.append(row)
            with open(out / "device_check.jsonl", "a", encoding="utf-8") as lines:
                lines.write(json.dumps(row) + "\n")
            what = f"{task.get('driver', task['kind'])} {task.get('engine', '')} n={task['n']:,} threads={task.get('threads')}"
            if "error" in row or "line" in row:
                result = row.get("error") or row["line"]
            elif task["kind"] == "scaling":
                result = f"{row['median_daily_ratio']:.2f}x on the median day, {row['ratio']:.2f}x over all"
            else:
                result = f"{row['run_seconds'] / row['days'] * 1000:.1f} ms/day"
            print(f"[{time.perf_counter() - started:6.0f} s] {what}: {result}", flush=True)
            text = report(rows, sizes, all_threads, header, time.perf_counter() - started)
            (out / "device_check.md").write_text(text, encoding="utf-8")
        print("\n" + text, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
