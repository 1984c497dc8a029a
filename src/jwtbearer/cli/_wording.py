"""Library messages in shell words: the library speaks to Python callers (``overwrite=True``,
``password=``), the command line names its flags and the profile keys as the TOML spells them.
"""

from __future__ import annotations

import re

__all__ = ["PYTHON_WORDS", "shell_words"]

#: (pattern, replacement), applied in order to every message the CLI prints.
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement) for pattern, replacement in (
        (r"pass overwrite=True \(--force\)", "pass --force"),
        (r"overwrite=True", "--force"),
        (r"create it with KeyStore\(\)\.create\([^)]*\) or (`jwtbearer keys create [^`]*`)",
         r"create it with \1"),
        (r"import a key file with KeyStore\(\)\.import_file\(\.\.\.\) or ", "import a key file "
         "with "),
        (r"allow_insecure_http=True", "--allow-insecure-http (in a profile: "
         "allow_insecure_http = true)"),
        (r"\(pass password=\)", "(give it with --password-env VAR or --password-stdin; in a "
         "profile: key_password)"),
        (r"pass password=", "give it with --password-env VAR or --password-stdin (in a "
         "profile: key_password)"),
        (r"drop password=", "give no password"),
        (r"x5t_s256=True", "--x5t"),
        (r"pass key=None", "give no --key"),
    )
)

#: What no CLI message may contain (pinned by the tests).
PYTHON_WORDS = ("=True", "=False", "password=", "overwrite=", "allow_insecure_http=",
                "KeyStore(", "key=None", "x5t_s256=")


def shell_words(text: str) -> str:
    """``text`` with the library's Python wording replaced by flags and profile keys."""
    if "=" not in text and "(" not in text:
        return text
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text
