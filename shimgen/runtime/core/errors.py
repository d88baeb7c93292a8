"""Exceptions raised by the shim runtime.

Every message here is written for a log or an HTTP error body on the domain
boundary, so none of them may contain the value that caused the problem (a
card number, a token, key material): they name *where* and *what kind of*
problem, never *what* the data was.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KeysetError", "Problem", "TokenError", "TranslationError"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found while translating a record.

    ``pointer`` is a JSON pointer (RFC 6901) into the offending document, e.g.
    ``"/cards/0/number"``, so that callers can locate the problem without the
    shim echoing the value; ``message`` describes the problem and never
    contains the offending value.
    """

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer}: {self.message}"


class TranslationError(ValueError):
    """A record could not be translated; carries every problem found.

    Collecting all problems (rather than stopping at the first) lets a 422
    response list them all with their JSON pointers in one round trip.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        # Pass the problems (not the rendered text) as args so that the
        # exception pickles and unpickles back into a TranslationError.
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class KeysetError(RuntimeError):
    """The keyset configuration is missing or invalid.

    Raised at start-up so that a misconfigured shim fails fast instead of
    producing tokens nobody can reverse. Messages explain how to fix the
    configuration and never contain key material.
    """


class TokenError(ValueError):
    """A token cannot be reversed by this shim.

    The token is malformed, names a key id that is not in the keyset, or fails
    authentication (it was made for another field or shim, or was tampered
    with). The message never contains the token itself.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        """Which check failed (``malformed``, ``unknown-key``, ``not-this-field``,
        ``unknown-type``): for logs and tests, never shown to a caller."""
