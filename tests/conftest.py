import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from model.params import Params  # noqa: E402
from model.timeline import load_timeline  # noqa: E402


@pytest.fixture(scope="session")
def timeline():
    return load_timeline()


@pytest.fixture(scope="session")
def small_params():
    """A small population over the whole default period: quick, yet every event happens."""
    return Params(n_agents=400)
