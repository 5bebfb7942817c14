"""Exception types shared across normlab.

Every error a user can cause derives from :class:`NormlabError`, so the command line can print
its message without a stack trace. Each also derives from the builtin type a Python caller
would expect (``ValueError`` for bad input, ``ImportError`` for a missing extra).
"""


class NormlabError(Exception):
    """Base class for errors whose message is meant for the user."""


class ConfigError(NormlabError, ValueError):
    """A configuration value is invalid; the message names it and lists what is valid."""


class IDXFormatError(NormlabError, ValueError):
    """An IDX file is malformed; the message names the file and the fault."""


class DataFileError(NormlabError, OSError):
    """A data file exists but cannot be read (permissions, a folder in its place, an I/O error);
    the message names the file and the cause."""


class OutputError(NormlabError, OSError):
    """An output file or folder cannot be written (no space left, read-only, permissions); the
    message names the path and the cause, and nothing half-written is left behind."""


class DownloadError(NormlabError, OSError):
    """No source could provide a verified file; the message lists every source tried."""


class CheckpointError(NormlabError, ValueError):
    """A checkpoint is unreadable, truncated, or belongs to another model or config."""


class DivergenceError(NormlabError, FloatingPointError):
    """Training diverged: a NaN or infinite loss (``batch`` names it), or an epoch whose mean
    loss passed the divergence limit (``batch`` is None)."""

    def __init__(self, message: str, *, epoch: int, batch: int | None):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch


class MissingExtraError(NormlabError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def require_extra(module: str, extra: str, feature: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming ``pip install normlab[extra]``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{feature} needs the optional dependency '{module}', which is not installed. "
            f"Install it with: pip install 'normlab[{extra}]'"
        ) from exc
