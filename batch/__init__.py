"""The batch layer: how runs are built, executed, identified, stored, resumed and stopped.

Every experiment uses it, so each of these jobs exists once:

- ``engines``: the engine registry (array, mesa, twin) behind one call, ``build(engine, params, timeline, seed)``;
- ``executor``: one executor interface (this process, local worker processes, or a Dask cluster) and
  ``run_tasks``, which stops within seconds on Ctrl-C, keeps what finished and cancels the rest;
- ``identity``: a run's identity (resolved parameters, the timeline's content, engine, size, seed, code
  version), and what changed when a saved run does not match;
- ``ensemble``: seed ensembles saved run by run and resumed, on any executor;
- ``outputs``: the output-folder policy (a manifest of what the project wrote, safe names, staged folders);
- ``outcomes``: the outcome registry, every summary figure of a run declared once;
- ``errors`` and ``cli``: one error base class and one command-line wrapper.
"""
