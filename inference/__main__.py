"""``python -m inference``: see ``inference.cli``."""

import sys

from inference.cli import inference_command

if __name__ == "__main__":
    sys.exit(inference_command())
