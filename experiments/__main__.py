"""One command with subcommands (installed as ``rednote``; also ``python -m experiments``):

    rednote run --out DIR                 one run              (python -m experiments.run)
    rednote article --seeds 20            reproduce the article (python -m experiments.reproduce_article)
    rednote check --config C --observations O   an ensemble against any observation file
    rednote calibrate ...                 fit the free parameters (--method abc: Bayesian, python -m inference)
    rednote ablations ...                 switch off one driver at a time
    rednote scenarios ...                 counterfactual ensembles
    rednote sweep --config F --out DIR    parameter sweeps (local or Dask)
    rednote sensitivity ...               Morris / Sobol indices
    rednote twins ...                     the ABM against its system-dynamics twin
    rednote bass                          the ABM reduced to Bass diffusion

``rednote SUBCOMMAND --help`` gives each one's options; every subcommand is the ``main`` of its module.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from batch.cli import command

SUBCOMMANDS = {
    "run": ("experiments.run", "run one scenario once"),
    "article": ("experiments.reproduce_article", "reproduce the article: an ensemble against every target"),
    "check": ("experiments.check", "an ensemble against any observation file (which figures it meets)"),
    "calibrate": ("experiments.calibrate", "fit the free parameters (cmaes, tpe; abc: Bayesian)"),
    "ablations": ("experiments.ablations", "switch off one driver at a time"),
    "scenarios": ("experiments.scenarios", "counterfactual scenarios as seed ensembles"),
    "sweep": ("experiments.sweep", "parameter sweeps on local processes or a Dask cluster"),
    "sensitivity": ("experiments.sensitivity", "Morris and Sobol indices of a sweep"),
    "twins": ("experiments.compare_twins", "the agent-based model against its system-dynamics twin"),
    "bass": ("experiments.verify_bass", "the model reduced to Bass diffusion"),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    return "usage: rednote SUBCOMMAND [options]\n\nsubcommands:\n" + "\n".join(
        f"  {name:<{width}}  {text}" for name, (_, text) in SUBCOMMANDS.items())


@command
def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"error: unknown subcommand {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    # The command as typed (argparse's usage and errors, manifests, the resume hint): rednote's own words,
    # or python -m experiments's.
    program = "python -m experiments" if Path(sys.argv[0]).name == "__main__.py" else "rednote"
    saved, sys.argv = sys.argv, [f"{program} {name}", *rest]
    try:
        return module.main(rest)
    finally:
        sys.argv = saved


if __name__ == "__main__":
    sys.exit(main())
