"""One place that makes URLs safe to show: passwords in userinfo and in query strings.

Redis, proxy and database URLs carry credentials (``redis://:PASSWORD@host``,
``http://user:PASSWORD@proxy:3128``, ``redis://host/0?password=PASSWORD``). Every repr, log
line, error and CLI output that shows such a URL passes it through :func:`redact_url` first.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "redact_url"]

REDACTED = "[redacted]"

# scheme://authority; the authority ends at the first "/", "?", "#" or white space.
_AUTHORITY = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/?#\s]*)")
# A query or fragment parameter whose name says it is a credential.
_SECRET_PARAM = re.compile(
    r"(?i)([?&;#](?:[^=&;#\s]*(?:pass|pwd|secret|token|auth|key|sig|credential)[^=&;#\s]*)=)"
    r"[^&;#\s]*"
)


def _authority(match: re.Match[str]) -> str:
    scheme, authority = match.group(1), match.group(2)
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return match.group(0)
    user, colon, _password = userinfo.partition(":")
    return f"{scheme}{user}{':' + REDACTED if colon else ''}@{host}"


def redact_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``[redacted]``.

    The user name and the host stay (they say which account and which server); the password
    after ``user:`` in the userinfo goes, and so does the value of any query parameter named
    like a credential (``password``, ``token``, ``secret``, ``key``, ``auth``, ``sig``...).
    Works on a bare URL or on a message that contains URLs; never raises.
    """
    if "://" not in text and "=" not in text:
        return text
    return _SECRET_PARAM.sub(rf"\g<1>{REDACTED}", _AUTHORITY.sub(_authority, text))
