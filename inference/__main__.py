"""``python -m inference``: see ``inference.cli``."""

import sys

from batch.cli import command
from inference.cli import main


@command
def inference_command(argv=None) -> int:
    """``inference.cli.main`` as a command: Ctrl-C exits 130 (SIGTERM 143) with the command to type again,
    as every other command does (``batch.cli.command``)."""
    return main(argv)


if __name__ == "__main__":
    sys.exit(inference_command())
