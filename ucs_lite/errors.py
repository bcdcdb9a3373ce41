"""The error boundary: what a user can fix is a :class:`UcsError`; anything else is a bug.

The command line prints a :class:`UcsError` as one line (``ucs-lite: error: ...``, exit 2) and any other exception
with its traceback and a note that it is a bug in ucs_lite (exit 1). Library code raises the narrowest class that
fits; the classes that describe a bad argument also derive from :class:`ValueError`, so ``except ValueError`` keeps
working for callers that used it.
"""
from __future__ import annotations

__all__ = ["UcsError", "InputError", "OptionError", "DataError", "SurrogateUnavailable", "DeviceUnavailable",
           "CacheEntryError", "UcsWarning", "SkippedInput", "warn_unreadable"]


class UcsError(Exception):
    """Something the user can fix; the message says what and how, in one line."""


class InputError(UcsError, ValueError):
    """A value out of range or of the wrong kind (ε, a shape, a countermeasure spec, a size)."""


class OptionError(InputError):
    """An unknown method, option or choice (``--method``, ``--opt KEY=VALUE``, ``--strength``)."""


class DataError(InputError):
    """An unreadable or malformed input file; the message names the file and the fix."""


class SurrogateUnavailable(UcsError, RuntimeError):
    """A surrogate's weights cannot be loaded here (offline, no local checkpoint); the message says what to do."""


class DeviceUnavailable(UcsError, RuntimeError):
    """The device asked for is not on this machine; the message says what to use instead."""


class CacheEntryError(UcsError):
    """A cache entry that cannot be read back (the message names the file)."""


class UcsWarning(UserWarning):
    """A warning from ucs_lite (the command line prints these as one ``ucs-lite: warning: ...`` line)."""


class SkippedInput(UcsWarning):
    """Warned for one input file that was skipped (unreadable image, non-image file); the run goes on."""


def warn_unreadable(path: object, error: BaseException) -> None:
    """Warn, naming the file, that a cache entry could not be read and is being recomputed and replaced."""
    import warnings

    warnings.warn(f"cache entry {path} could not be read ({type(error).__name__}: {error}); recomputing and "
                  "replacing it", UcsWarning, stacklevel=3)
