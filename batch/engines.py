"""The engine registry: every way to simulate the model, behind one call.

    frame = build("array", params, timeline, seed).run()      # the daily frame of model.observables.COLUMNS

- ``array``: ``model.array_model.ArrayMigrationModel`` (numpy; the fast default). Options: ``graph_kind``
  (``model.graphs.GRAPH_KINDS``: the friendship graph is drawn from a generator of its own, spawned from
  the seed) and any keyword the class takes (``block_size``; ``threads`` once the engine has it).
- ``mesa``: ``model.migration_model.MigrationModel`` (the reference Mesa driver).
- ``twin``: ``model.system_dynamics.SystemDynamicsModel`` (stocks and flows; deterministic, so the seed is
  recorded but changes nothing). Options: ``rates`` (``probability`` or ``hazard``) and the class's keywords.

Engine modules are imported only when built: a worker running the array engine never loads Mesa.
Options are passed through to the engine, so an engine that gains one needs no change here; an option
it does not take is an ``InputError`` naming the engine.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import numbers
from collections.abc import Callable
from typing import Any

from batch.errors import InputError


@dataclasses.dataclass(frozen=True)
class Engine:
    name: str
    description: str
    module: str
    cls: str
    seeded: bool = True                     # False: the seed changes nothing (the twin)
    prepare: Callable[..., dict] | None = None   # turns registry options into the class's keywords

    def model_class(self):
        return getattr(importlib.import_module(self.module), self.cls)


def _array_options(params, seed: int, options: dict) -> dict:
    """``graph_kind``: a graph of that kind, drawn from a generator spawned from the seed (the model's own
    generator then draws the users as for the default graph)."""
    options = dict(options)
    kind = options.pop("graph_kind", None)
    if kind is not None:
        import numpy as np

        from model.graphs import friendships_of_kind

        graph_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        options["graph"] = friendships_of_kind(params, kind, graph_rng)
    return options


ENGINES: dict[str, Engine] = {
    engine.name: engine for engine in (
        Engine("array", "numpy engine (fast, default)", "model.array_model", "ArrayMigrationModel",
               prepare=_array_options),
        Engine("mesa", "Mesa agents (the reference driver)", "model.migration_model", "MigrationModel"),
        Engine("twin", "system-dynamics twin (stocks and flows, no seed)", "model.system_dynamics",
               "SystemDynamicsModel", seeded=False),
    )
}
ENGINE_NAMES = tuple(ENGINES)


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise InputError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}") from None


def build(name: str, params, timeline, seed: int, **options: Any):
    """A model of engine ``name`` for these parameters, timeline and seed, ready to ``run()``. ``seed`` is an
    integer: the batch layer saves, identifies and repeats a run by its seed, which a numpy Generator (a
    state, not a number to write down) is not; a Generator is refused here (the model classes take one)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InputError(f"an engine run needs an integer seed (saved beside the run to repeat it), got "
                         f"{type(seed).__name__} {seed!r}; to run from a numpy Generator, build the model class "
                         "with rng=generator, or draw a seed from it: int(generator.integers(2**63))")
    spec = engine(name)
    if spec.prepare is not None:
        options = spec.prepare(params, seed, options)
    cls = spec.model_class()
    accepted = inspect.signature(cls.__init__).parameters
    unknown = sorted(k for k in options if k not in accepted or k in ("self", "params", "timeline", "rng"))
    if unknown:
        raise InputError(f"engine {name!r} takes no option(s) {unknown}")
    return cls(params, timeline, rng=seed, **options)


def simulate(name: str, params, timeline, seed: int, options: dict | None = None):
    """One run's daily frame (``model.observables.COLUMNS``, indexed by date): what workers execute."""
    return build(name, params, timeline, seed, **(options or {})).run()
