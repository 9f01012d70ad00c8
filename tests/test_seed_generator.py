"""A numpy Generator (or SeedSequence) given as the seed is consumed the same way by both drivers: the model's
rng is what ``np.random.default_rng`` makes of it, so the same generator state gives the same run, as an
integer seed does. (Mesa's own Model.__init__ takes one number from a Generator to seed Python's ``random``;
left alone, the Mesa driver's run would start one draw later than the array driver's.)"""

import numpy as np
import pandas as pd
import pytest

from batch.engines import build
from batch.errors import InputError
from model.array_model import ArrayMigrationModel
from model.migration_model import MigrationModel


@pytest.fixture
def params(small_params):
    return small_params.replace(n_agents=400, end="2025-02-15")


@pytest.mark.parametrize("make", [
    lambda: np.random.default_rng(7),
    lambda: np.random.default_rng(np.random.SeedSequence(7)),
    lambda: np.random.SeedSequence(7),
    lambda: np.random.PCG64(7),
], ids=["generator", "generator-of-seed-sequence", "seed-sequence", "bit-generator"])
def test_both_drivers_give_the_same_run_from_the_same_generator_state(params, timeline, make):
    given_to_mesa, given_to_array = make(), make()
    mesa_frame = MigrationModel(params, timeline, rng=given_to_mesa).run()
    array_frame = ArrayMigrationModel(params, timeline, rng=given_to_array).run()
    pd.testing.assert_frame_equal(mesa_frame, array_frame, check_exact=True)
    assert mesa_frame["migrants"].sum() > 0, "the comparison covers real migration"
    # Both drivers left the caller's generator in the same state (each drew the same numbers from it).
    if isinstance(given_to_mesa, np.random.Generator):
        assert given_to_mesa.bit_generator.state == given_to_array.bit_generator.state


def test_a_generator_runs_as_its_integer_seed(params, timeline):
    """default_rng(7) and the seed 7 are one stream: the same run on either driver."""
    by_seed = ArrayMigrationModel(params, timeline, rng=7).run()
    by_generator = MigrationModel(params, timeline, rng=np.random.default_rng(7)).run()
    pd.testing.assert_frame_equal(by_seed, by_generator, check_exact=True)


def test_mesa_random_is_seeded_from_the_generator_state(params, timeline):
    """Python's ``random`` (Mesa's ``model.random``) is still seeded from the given generator: the same state
    gives the same one, another state another."""
    first = MigrationModel(params.replace(end="2024-12-02"), timeline, rng=np.random.default_rng(3))
    again = MigrationModel(params.replace(end="2024-12-02"), timeline, rng=np.random.default_rng(3))
    other = MigrationModel(params.replace(end="2024-12-02"), timeline, rng=np.random.default_rng(4))
    assert first.random.random() == again.random.random() != other.random.random()


@pytest.mark.parametrize("engine", ["array", "mesa", "twin"])
def test_the_batch_layer_refuses_a_generator_as_seed(params, timeline, engine):
    """A saved run is identified and repeated by its seed, which a Generator is not: refused by name."""
    with pytest.raises(InputError, match="integer seed"):
        build(engine, params, timeline, np.random.default_rng(7))
