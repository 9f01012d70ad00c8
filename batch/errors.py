"""One base class for every error a user's input can cause."""


class InputError(ValueError):
    """Input that cannot be used as given: a file, a value, an argument or an output folder.

    Raised before any work starts wherever possible; the command-line wrapper (``batch.cli``) prints its
    message and exits with status 2, never with a traceback."""
