"""Exceptions with messages a biologist can act on."""


class DiffPRError(Exception):
    """Base class of every error napari-diffpr raises on purpose."""


class InputError(DiffPRError, ValueError):
    """The measurement itself is unusable (wrong shape, NaN, constant, too small...)."""


class ParameterError(DiffPRError, ValueError):
    """A method parameter has the wrong type or lies outside its range."""


class RetrievalError(DiffPRError, RuntimeError):
    """The data is valid but the method could not find what it needs (e.g. no sideband)."""


class Cancelled(DiffPRError):
    """Raised inside reconstruct() when a progress callback asks to stop."""
