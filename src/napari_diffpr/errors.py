"""Exceptions with messages a biologist can act on.

Every entry point (the Python API, the CLI, the napari reader and writer) raises only these for
problems with the user's data, parameters, files or machine (plus FileNotFoundError for a
missing input file). Each message says what was wrong and what was expected.
"""


class DiffPRError(Exception):
    """Base class of every error napari-diffpr raises on purpose."""


class InputError(DiffPRError, ValueError):
    """The measurement itself is unusable (wrong shape, NaN, constant, too small, a damaged or
    truncated file...)."""


class ParameterError(DiffPRError, ValueError):
    """A method parameter has the wrong type or lies outside its range."""


class RetrievalError(DiffPRError, RuntimeError):
    """The data is valid but the method could not find what it needs (e.g. no sideband)."""


class OutputError(DiffPRError, OSError):
    """An output cannot be written safely: it exists (and overwriting was not asked for), it is
    the input itself, its folder is missing or read-only, the disk is full, or the write failed
    (the previous file, if any, is left untouched)."""


class ResourceError(DiffPRError, MemoryError):
    """A computation would need more memory than the budget allows; nothing was allocated.
    The message says how much it would need and what to change."""


class Cancelled(DiffPRError):
    """Raised inside reconstruct() when a progress callback asks to stop."""
