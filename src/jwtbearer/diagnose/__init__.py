"""Diagnostics: lint an assertion (``_lint``), explain a token endpoint's error from the
providers' known wordings (``_known_errors``), both behind ``explain``.

Layer: imports ``jose`` and the root modules.
"""

from __future__ import annotations

from .explain import (
    AUTH0,
    COMMON_MAX_LIFETIME,
    GOOGLE,
    KNOWN_ERRORS,
    OKTA,
    PING,
    SALESFORCE_MAX_LIFETIME,
    SF,
    SKEW,
    Explanation,
    Finding,
    KnownError,
    Level,
    Report,
    duration,
    explain_error,
    inspect_assertion,
    numeric_date,
)

__all__ = [
    "AUTH0",
    "COMMON_MAX_LIFETIME",
    "GOOGLE",
    "KNOWN_ERRORS",
    "OKTA",
    "PING",
    "SALESFORCE_MAX_LIFETIME",
    "SF",
    "SKEW",
    "Explanation",
    "Finding",
    "KnownError",
    "Level",
    "Report",
    "duration",
    "explain_error",
    "inspect_assertion",
    "numeric_date",
]
