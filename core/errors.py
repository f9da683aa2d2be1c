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


class PlatformError(RfmsyncError):
    """A platform (or the file system a connector writes) refused or failed a request.

    Callers decide on the fields, never on the message, which is for people:
    - origin: the type of the connector whose platform answered ("webhook"), else the host
    - status: the HTTP status, None for a network error or a non-HTTP failure
    - code: the platform's short error code or problem title, when it gave a safe one
    - retry_after: seconds the platform asked to wait (Retry-After), if it did
    """

    def __init__(self, message: str, *, origin: str | None = None, status: int | None = None,
                 code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.origin, self.status, self.code, self.retry_after = origin, status, code, retry_after

    def __reduce__(self) -> tuple[object, ...]:
        # Exceptions pickle through args alone; keep the fields across a process boundary.
        return (_rebuild, (type(self), str(self), self.origin, self.status, self.code, self.retry_after))


def _rebuild(cls: type[PlatformError], message: str, origin: str | None, status: int | None, code: str | None,
             retry_after: float | None) -> PlatformError:
    return cls(message, origin=origin, status=status, code=code, retry_after=retry_after)


class TransientError(PlatformError):
    """Worth retrying later: rate limits, 5xx, connection failures."""


class AuthError(PlatformError):
    """Credentials are wrong or revoked: stop this source or sink and say which."""


class PermanentError(PlatformError):
    """The platform refused the request as such; retrying the same request cannot help."""
