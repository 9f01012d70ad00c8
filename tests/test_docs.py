"""The ODD describes the model as built: its parameter table is the code's."""

import re
from pathlib import Path

from model.params import Params

ODD = Path(__file__).resolve().parent.parent / "docs" / "ODD.md"


def test_odd_parameter_table_matches_params():
    text = ODD.read_text(encoding="utf-8")
    table = re.search(r"<!-- parameter-table.*?-->\n(.*?)\n<!-- end parameter-table -->", text, re.S)
    assert table, "docs/ODD.md has no parameter table markers"
    assert table.group(1).strip() == Params.table_markdown().strip(), (
        "docs/ODD.md's parameter table is stale: run `python -m model.params --odd` and commit the result"
    )


def test_odd_names_every_rule():
    text = ODD.read_text(encoding="utf-8")
    for name in Params.names():
        if name in {"n_agents", "population", "start", "end"}:
            continue
        assert name in text.split("### 3.12 Parameters")[0] or name in {"taste_concentration"}, f"ODD never explains {name}"
