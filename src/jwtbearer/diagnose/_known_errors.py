"""The wording token endpoints use for their errors, and what each one means.

The table itself lives in :mod:`jwtbearer._hints`, the one source of every hint: the same
entries give :attr:`jwtbearer.TokenEndpointError.hint` its line and
:func:`jwtbearer.diagnose.explain_error` its what/why/fix.
"""

from __future__ import annotations

from .._hints import (
    AAD,
    AADSTS_CODE,
    AUTH0,
    GENERIC_BY_CODE,
    GOOGLE,
    KNOWN_ERRORS,
    OKTA,
    PING,
    SF,
    KnownError,
    find_known,
)

__all__ = [
    "AAD",
    "AADSTS_CODE",
    "AUTH0",
    "GENERIC_BY_CODE",
    "GOOGLE",
    "KNOWN_ERRORS",
    "OKTA",
    "PING",
    "SF",
    "KnownError",
    "find_known",
]
