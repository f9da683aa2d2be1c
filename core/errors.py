"""The one exception tree. Callers decide by class: retry later, stop a sink, stop a store.

Messages never contain an email, phone number, token or raw payload: they name files, lines,
columns and config paths instead.
"""

from __future__ import annotations


class RfmsyncError(Exception):
    """Base of every error rfmsync raises on purpose."""


class ConfigError(RfmsyncError):
    """A setting is missing, unknown or out of range. `path` names it (`stores.acme.rfm.levels`)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class InputError(RfmsyncError):
    """An input file cannot be read at all (empty, no header, duplicate header, unknown layout)."""


class SchemeError(ConfigError):
    """A segment scheme or band set is inconsistent (gaps, overlaps, levels it cannot serve)."""


class TransientError(RfmsyncError):
    """Worth retrying later: rate limits, 5xx, connection failures."""


class AuthError(RfmsyncError):
    """Credentials are wrong or revoked: stop this source or sink and say which."""


class PermanentError(RfmsyncError):
    """The platform refused the request as such; retrying the same request cannot help."""


class RecordRejected(RfmsyncError):
    """One record was refused; it is recorded with its reason and not retried forever."""
