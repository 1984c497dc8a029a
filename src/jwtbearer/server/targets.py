"""What a token may be for: the scope (RFC 6749 §3.3) and the audience (RFC 8707, RFC 8693
§2.1) a request asks for, checked against the client's registration."""

from __future__ import annotations

from collections.abc import Mapping

from .registry import Client
from .validation import Refusal

__all__ = ["audience_for", "scope_for"]


def scope_for(client: Client, requested: str | None) -> str:
    """The scope to grant: the client's registered scopes when none is asked for, else the
    requested tokens (deduplicated, in order), each registered for the client."""
    if requested is None:
        return " ".join(client.scopes)
    wanted = requested.split(" ")
    if any(not s for s in wanted):
        raise Refusal("invalid_scope", "scope is space-separated tokens (RFC 6749 §3.3)")
    refused = [s for s in wanted if s not in client.scopes]
    if refused:
        raise Refusal("invalid_scope",
                      f"scope {refused[0][:80]!r} is not registered for {client.client_id!r}")
    return " ".join(dict.fromkeys(wanted))


def audience_for(client: Client, form: Mapping[str, str], default: str) -> str:
    """The ``aud`` of the token: ``default``, or the ``audience``/``resource`` the form names,
    which must be among the client's registered audiences (``invalid_target``)."""
    requested = {v for v in (form.get("audience"), form.get("resource")) if v is not None}
    if len(requested) > 1:
        raise Refusal("invalid_target", "audience and resource name different targets")
    if not requested:
        return default
    target = requested.pop()
    if target not in client.audiences:
        raise Refusal("invalid_target",
                      f"client {client.client_id!r} may not ask for audience {target[:80]!r}")
    return target
