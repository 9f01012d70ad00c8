"""The model as a function of parameters returning observations, and the distance between observations.

The observation model: a figure of a source with a scale is ``scale_<source> x`` the model's reading (for
readings in people, ``Observation.is_scaled``); a figure with a standard deviation is that plus Gaussian
noise of that sd; a figure given as a band (a claim: "under 700,000", "more than 700,000") is the scaled
reading itself. ``ObservationModel`` draws the noise, so that the ABC-SMC posterior tends, as its tolerance
shrinks, to the posterior under this observation model (Wilkinson 2013, "Approximate Bayesian computation
(ABC) gives exact results under the assumption of model error"). A band's edge uncertainty enters through
the distance, at the tolerances a run reaches, not as noise: drawn as noise, a narrow band such as [1, 1]
would need one draw per edge, and a figure reported as "inside" would no longer say where the run was.

``ObservationDistance`` is the Euclidean norm of each figure's standardized miss (``Observation.miss``):
(simulated - observed) / sd for a figure with an sd, and for a band the distance beyond its nearer edge over
that edge's sd, 0 inside; the point fits (``model.targets.distance``) score a band the same way. A reading
the run could not make (NaN) is an infinite distance.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from inference.space import Prior, Variant, to_values
from model import compiled_day
from model.config import RunConfig, make_model
from model.observations import ObservationSet
from model.params import ParameterError, Params
from model.timeline import Timeline

SEED_KEY = "seed"      # the model seed of a simulation, kept with its readings so any particle can be rerun


class ObservationDistance:
    """The distance between simulated and observed figures (see the module's docstring). Picklable, so
    that samplers can evaluate it where the simulation ran."""

    def __init__(self, observations: ObservationSet):
        self.observations = tuple(observations)

    def __call__(self, simulated: Mapping[str, float], observed: Mapping[str, float] | None = None) -> float:
        total = 0.0
        for o in self.observations:
            z = o.miss(simulated.get(o.id, math.nan))
            if math.isnan(z):
                return math.inf
            total += z * z
        return math.sqrt(total)


def observed_data(observations: ObservationSet) -> dict[str, float]:
    """The observed figures as pyABC's observed data (a band's figure is NaN: the distance reads the band)."""
    out = {o.id: (o.value if o.band is None else math.nan) for o in observations}
    out[SEED_KEY] = -1
    return out


def observe(observations: ObservationSet, readings: Mapping[str, float], scales: Mapping[str, float],
            rng: np.random.Generator | None) -> dict[str, float]:
    """The figures each source would report of a run: the readings times each source's scale (readings in
    people only), plus each figure's noise (none for bands, or when ``rng`` is None)."""
    out = {}
    for o in observations:
        value = readings[o.id]
        scale_name = observations.sources[o.source].scale_parameter
        if o.is_scaled and scale_name is not None:
            value = value * scales[scale_name]
        if rng is not None and o.sd is not None:
            value = value + o.sd * rng.standard_normal()
        out[o.id] = float(value)
    return out


@dataclasses.dataclass
class ObservationModel:
    """One simulation for a parameter sample: ``model(sampled)`` returns the sources' figures (by
    observation id) and the model seed (``SEED_KEY``).

    ``sampled`` maps ``Prior.key`` to values on pyABC's scale; the model's parameters are
    ``config.params`` with the ``variant``'s values and the sampled ones on top, and the run stops at
    ``config.params.end``. The seed is drawn from numpy's global generator (which pyABC seeds in each worker,
    and which ``inference.calibration`` seeds for a single-process run, so that one is reproducible).
    ``driver_pid``: when set and this process's parent is no longer that process (the driver was killed,
    e.g. by SIGKILL, and its worker processes were orphaned), the worker exits instead of simulating on:
    a kill leaves no process behind. ``workers``: with ``driver_pid``, how many such worker processes share
    the machine; each runs the compiled day on its share of the cores (``compiled_day.share_cores``), as the
    batch layer's own workers do."""
    config: RunConfig
    timeline: Timeline
    observations: ObservationSet
    priors: tuple[Prior, ...]
    scales: tuple[Prior, ...] = ()
    variant: Variant | None = None
    noise: bool = True
    driver_pid: int | None = None
    workers: int | None = None

    def params(self, sampled: Mapping[str, float]) -> Params:
        values = dict(self.variant.params) if self.variant is not None else {}
        values.update(to_values(self.priors, sampled))
        return self.config.params.replace(**values)

    def run(self, sampled: Mapping[str, float], seed: int, params: Params | None = None) -> pd.DataFrame:
        """The daily frame of one run (``params`` overrides the parameters, e.g. a longer ``end``)."""
        params = params if params is not None else self.params(sampled)
        return make_model(dataclasses.replace(self.config, params=params), seed=seed, timeline=self.timeline).run()

    def __call__(self, sampled: Mapping[str, float]) -> dict[str, float]:
        if self.driver_pid is not None and os.getpid() != self.driver_pid:
            if os.getppid() != self.driver_pid:
                os._exit(0)
            if self.workers is not None:
                compiled_day.share_cores(self.workers)
        seed = int(np.random.randint(0, 2**31 - 1))
        figures = self.simulate(sampled, seed)
        figures[SEED_KEY] = seed
        return figures

    def simulate(self, sampled: Mapping[str, float], seed: int) -> dict[str, float]:
        """The figures of the run with this seed (the noise drawn from the same seed)."""
        try:
            readings = self.observations.read(self.run(sampled, seed))
        except ParameterError:
            # A combination of values the model refuses is a simulation that matches nothing.
            return {o.id: math.nan for o in self.observations}
        scales = to_values(self.scales, sampled)
        rng = np.random.default_rng([seed, 1]) if self.noise else None
        return observe(self.observations, readings, scales, rng)
