"""Make a calibration's best parameters the model's defaults.

    python scripts/adopt_calibration.py outputs/calibration

Writes each value of ``OUT/best_params.toml`` into its ``_p(...)`` default in ``model/params.py`` and
copies ``best_params.toml``, ``best_targets.md``, ``history.csv`` and ``calibration.toml`` into
``data/calibration/`` (tests/test_params.py checks the two agree). The provenance comment above the
parameters is for the person adopting them to write: the date, the command and why.
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ROOT / "model" / "params.py"
DATA = ROOT / "data" / "calibration"
COPIED = ("best_params.toml", "best_targets.md", "history.csv", "calibration.toml")


def adopt(out: Path) -> list[str]:
    best = tomllib.loads((out / "best_params.toml").read_text(encoding="utf-8"))["params"]
    source = PARAMS.read_text(encoding="utf-8")
    for name, value in best.items():
        pattern = re.compile(rf"^(    {name}: \w+ = _p\()([^,]+)(,)", re.MULTILINE)
        source, count = pattern.subn(lambda m: f"{m.group(1)}{value!r}{m.group(3)}", source)
        if count != 1:
            raise SystemExit(f"error: no single default for {name!r} in {PARAMS}")
    PARAMS.write_text(source, encoding="utf-8")
    for name in COPIED:
        if (out / name).exists():
            shutil.copyfile(out / name, DATA / name)
    return sorted(best)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "best_params.toml").is_file():
        raise SystemExit("usage: python scripts/adopt_calibration.py OUT (a calibration folder with best_params.toml)")
    names = adopt(Path(sys.argv[1]))
    print(f"adopted {len(names)} parameters: {', '.join(names)}; now write the provenance comment in {PARAMS}")
