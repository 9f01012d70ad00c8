"""Make a calibration's best parameters the model's defaults, as a new stage of the calibration record.

    python scripts/adopt_calibration.py outputs/calibration 2026-11-29-refine [--start FILE]

Copies the calibration's ``best_params.toml``, ``best_targets.md``, ``history.csv`` and
``calibration.toml`` (and the ``--start`` file it began from) into ``data/calibration/stages/<stage>/``;
merges its parameters into ``data/calibration/best_params.toml``, whose ``[params]`` are every calibrated
value in force (a later stage overrides an earlier one; parameters it did not free keep theirs) and whose
``[provenance]`` lists the stages; and writes each value into its ``_p(...)`` default in
``model/params.py`` (tests/test_params.py checks the two agree). The comment above the parameters in
params.py is for the person adopting them to write: the date, the command and why.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tomllib
from pathlib import Path

import tomli_w

from batch.cli import command
from batch.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ROOT / "model" / "params.py"
DATA = ROOT / "data" / "calibration"
COPIED = ("best_params.toml", "best_targets.md", "history.csv", "calibration.toml")


def write_defaults(values: dict) -> None:
    source = PARAMS.read_text(encoding="utf-8")
    for name, value in values.items():
        pattern = re.compile(rf"^(    {name}: \w+ = _p\()([^,]+)(,)", re.MULTILINE)
        source, count = pattern.subn(lambda m, value=value: f"{m.group(1)}{value!r}{m.group(3)}", source)
        if count != 1:
            raise InputError(f"no single default for {name!r} in {PARAMS}")
    PARAMS.write_text(source, encoding="utf-8")


def adopt(out: Path, stage: str, start: Path | None = None) -> dict:
    new = tomllib.loads((out / "best_params.toml").read_text(encoding="utf-8"))
    folder = DATA / "stages" / stage
    if folder.exists():
        raise InputError(f"stage {folder} exists already; name the stage anew")
    folder.mkdir(parents=True)
    for name in COPIED:
        if (out / name).exists():
            shutil.copyfile(out / name, folder / name)
    if start is not None:
        shutil.copyfile(start, folder / start.name)
    record_file = DATA / "best_params.toml"
    record = tomllib.loads(record_file.read_text(encoding="utf-8")) if record_file.exists() else {"params": {}}
    stages = record.get("provenance", {}).get("stages", [])
    provenance = dict(new["provenance"])
    provenance["stages"] = [*stages, f"stages/{stage}"]
    params = {**record.get("params", {}), **new["params"]}
    record_file.write_text(tomli_w.dumps({"provenance": provenance, "params": params}), encoding="utf-8")
    write_defaults(params)
    return params


@command
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="a calibration folder (with best_params.toml)")
    parser.add_argument("stage", help="the stage's name in data/calibration/stages/, e.g. 2026-11-29-refine")
    parser.add_argument("--start", type=Path, help="the --start file the calibration began from")
    args = parser.parse_args(argv)
    if not (args.out / "best_params.toml").is_file():
        raise InputError(f"no best_params.toml in {args.out}")
    params = adopt(args.out, args.stage, args.start)
    print(f"{len(params)} calibrated defaults in force; now write the provenance comment in {PARAMS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
