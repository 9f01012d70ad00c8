"""The Mesa driver also runs under Mesa's own batch runner (parameters as keyword overrides, rng= seeds)."""

import multiprocessing

import mesa
import pytest

from model.migration_model import MigrationModel

COLUMNS = ("tiktok_only", "rednote_only", "dual_users", "neither", "downloads", "rednote_dau", "migrants")


@pytest.fixture
def keep_start_method():
    # batch_run forces the "spawn" start method for the whole process; put back what was there.
    before = multiprocessing.get_start_method(allow_none=True)
    yield
    multiprocessing.set_start_method(before, force=True)


def test_migration_model_runs_under_mesa_batch_run(keep_start_method):
    rows = mesa.batch_run(
        MigrationModel,
        parameters={"n_agents": [60, 80], "mean_degree": 4, "end": "2024-12-20"},
        rng=[1, 2],
        max_steps=1000,               # the calendar ends the run first: model.running turns False
        number_processes=1,
        data_collection_period=-1,
        display_progress=False,
    )
    assert len(rows) == 4
    assert sorted((row["n_agents"], row["iteration"]) for row in rows) == [(60, 0), (60, 1), (80, 0), (80, 1)]
    for row in rows:
        seed = [1, 2][row["iteration"]]
        alone = MigrationModel(n_agents=row["n_agents"], mean_degree=4, end="2024-12-20", rng=seed).run()
        assert len(alone) == 20 and row["Step"] == 20
        last = alone.iloc[-1]
        for column in COLUMNS:
            assert row[column] == last[column], (row["n_agents"], seed, column)
        people = row["tiktok_only"] + row["rednote_only"] + row["dual_users"] + row["neither"]
        assert people == pytest.approx(170e6)
