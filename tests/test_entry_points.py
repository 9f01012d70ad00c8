"""Every command goes through ``batch.cli.command`` (input errors exit 2 with their message, Ctrl-C exits
130 with the command to resume), so a new command cannot forget it: each module of the project's packages
with an ``if __name__ == "__main__"`` block, and each installed script, must call a ``command``-wrapped
function there."""

import ast
import importlib
import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from batch.cli import command

ROOT = Path(__file__).resolve().parent.parent
# The project's code (data/calibration/stages/*/fit.py are records of how a stage was fitted, kept as they
# ran, and not commands of the project).
PACKAGES = ("agents", "batch", "model", "experiments", "inference", "benchmarks", "scripts")
# The code object every command-wrapped function shares: ``command``'s inner function.
WRAPPED_CODE = command(lambda argv=None: 0).__code__


def _is_main_guard(node: ast.stmt) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"
            and len(node.test.comparators) == 1 and isinstance(node.test.comparators[0], ast.Constant)
            and node.test.comparators[0].value == "__main__")


def main_blocks() -> dict[Path, ast.If]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            guards = [node for node in tree.body if _is_main_guard(node)]
            if guards:
                found[path] = guards[-1]
    return found


def _called_name(block: ast.If, path: Path) -> tuple[str, str | None]:
    """The function the block hands control to, ``sys.exit(NAME(...))`` or ``raise SystemExit(NAME(...))``
    after nothing but imports, and the module it is imported from in the block (None: the module's own)."""
    *before, last = block.body
    assert all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in before), \
        f"{path}: the __main__ block does more than call its command"
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        exit_call = last.value
        assert ast.unparse(exit_call.func) == "sys.exit", f"{path}: the __main__ block must end in sys.exit(main())"
    else:
        assert isinstance(last, ast.Raise) and isinstance(last.exc, ast.Call) \
            and ast.unparse(last.exc.func) == "SystemExit", f"{path}: the __main__ block must end in sys.exit(main())"
        exit_call = last.exc
    (inner,) = exit_call.args
    assert isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name), \
        f"{path}: the __main__ block must call a function of the module: sys.exit(main())"
    name = inner.func.id
    imported = [s.module for s in before if isinstance(s, ast.ImportFrom) and name in {a.name for a in s.names}]
    return name, (imported[-1] if imported else None)


def _load(path: Path):
    relative = path.relative_to(ROOT).with_suffix("")
    if (path.parent / "__init__.py").exists():
        return importlib.import_module(".".join(relative.parts))
    spec = importlib.util.spec_from_file_location(f"entry_point_{relative.stem}", path)   # a script
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BLOCKS = main_blocks()


def test_the_commands_are_found():
    """Not vacuous: the commands named when this test was written are among those checked."""
    names = {p.relative_to(ROOT).as_posix() for p in BLOCKS}
    assert {"model/targets.py", "model/params.py", "inference/recovery.py", "scripts/adopt_calibration.py",
            "benchmarks/benchmark.py", "benchmarks/viz_benchmark.py", "benchmarks/bench_sweep.py",
            "benchmarks/bench_twin.py", "benchmarks/device_check.py", "experiments/run.py",
            "inference/cli.py", "experiments/__main__.py"} <= names


@pytest.mark.parametrize("path", list(BLOCKS), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_main_goes_through_command(path):
    name, source = _called_name(BLOCKS[path], path)
    function = getattr(importlib.import_module(source) if source else _load(path), name)
    assert getattr(function, "__code__", None) is WRAPPED_CODE, \
        f"{path}: {name} is not wrapped by batch.cli.command (decorate it with @command)"


def test_installed_scripts_go_through_command():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        assert getattr(importlib.import_module(module), function).__code__ is WRAPPED_CODE, name


def test_a_refusal_by_a_wrapped_main_exits_2_with_its_message(capsys):
    """A refusal the old mains raised as SystemExit("...") is an input error now: its message survives."""
    module = _load(ROOT / "scripts" / "adopt_calibration.py")
    assert module.main([str(ROOT / "no-such-calibration"), "stage"]) == 2
    assert "error: no best_params.toml in" in capsys.readouterr().err


def test_device_check_runs_without_the_project_installed():
    """The lent machine runs it from the repository root on PYTHONPATH, nothing installed: its import and its
    arguments need the standard library only (``-S``: no site-packages at all)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = ("import runpy, sys; sys.argv = ['device_check', '--help']; "
            "runpy.run_module('benchmarks.device_check', run_name='__main__')")
    done = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--probe" in done.stdout


# What the lent machine has (benchmarks/device_check.py's docstring): numpy, numba, pandas, scipy, networkx
# (and their own requirements), Mesa and tqdm as unpacked wheels; the project only on PYTHONPATH.
DEVICE_ROWS = """
import importlib.abc, sys
ALLOWED = {"numpy", "numba", "llvmlite", "pandas", "scipy", "networkx", "dateutil", "pytz", "tzdata", "six",
           "mesa", "tqdm", "agents", "batch", "benchmarks", "model"}
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in ALLOWED or top.startswith("_"):
            return None
        raise ModuleNotFoundError(f"not on the device machine: {name}", name=name)
sys.meta_path.insert(0, Refuse())
from benchmarks import benchmark
for driver, engine in (("array", "compiled"), ("array", "numpy"), ("mesa", "compiled")):
    row = benchmark.measure_driver(driver, 200, 2, seed=1, engine=engine)
    assert row["run_seconds"] >= 0, row
print("rows ran")
"""


def test_device_check_rows_import_only_what_the_lent_machine_has():
    """Each row (``benchmarks.benchmark``'s child) runs with imports of anything else refused (optional
    imports that numpy or pandas try and do without are refused too, and must not matter)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", DEVICE_ROWS], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rows ran" in done.stdout
