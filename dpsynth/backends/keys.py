"""The API key: read from an environment variable, never from an argument value.

The key is read when a client is created and handed straight to the ``openai``
client. No dpsynth object stores it, and no message, log record or ``repr``
contains it. A base URL may carry credentials too (``http://user:KEY@host/v1``,
``?api_key=KEY``); messages, log records and ``repr`` show it through
:func:`redact_url`.
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..models import ModelError

__all__ = [
    "OPENAI_BASE_URL",
    "PLACEHOLDER_API_KEY",
    "is_openai_url",
    "read_api_key",
    "redact_url",
    "resolve_base_url",
]

logger = logging.getLogger("dpsynth.backends")

OPENAI_BASE_URL = "https://api.openai.com/v1"
"""The endpoint the ``openai`` client uses when neither ``base_url`` nor ``OPENAI_BASE_URL`` is set."""

PLACEHOLDER_API_KEY = "EMPTY"
"""The key sent to servers that need none (vLLM's documented placeholder)."""

_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTABLE_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")

_SECRET_QUERY_NAMES = frozenset({"key", "api_key", "apikey", "api-key", "token", "access_token", "password"})
_UNPARSABLE_URL = "<a URL that could not be parsed>"


def redact_url(url: str | None) -> str | None:
    """Return ``url`` without the credentials it may carry, for messages, logs and reports.

    The user name and password (``http://user:KEY@host``) are removed, and so are
    query parameters named ``key``, ``api_key``, ``apikey``, ``api-key``,
    ``token``, ``access_token`` or ``password`` (in any case). None stays None,
    and a string that is not a parsable URL becomes a fixed placeholder, because
    it may be a key pasted in the wrong place.
    """
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except (TypeError, ValueError):
        return _UNPARSABLE_URL
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        kept = [(name, value) for name, value in parse_qsl(query, keep_blank_values=True)
                if name.lower() not in _SECRET_QUERY_NAMES]
        query = urlencode(kept)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def resolve_base_url(base_url: str | None) -> str:
    """Return ``base_url``, else ``$OPENAI_BASE_URL``, else OpenAI's endpoint, without a trailing slash."""
    resolved = base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL
    if not isinstance(resolved, str) or urlsplit(resolved).scheme not in ("http", "https"):
        raise ValueError(
            f"base_url={redact_url(resolved)!r} is invalid: give an http or https URL such as "
            "http://127.0.0.1:8000/v1."
        )
    return resolved.rstrip("/")


def is_openai_url(base_url: str) -> bool:
    """Return True when ``base_url`` points at OpenAI's own API."""
    host = urlsplit(base_url).hostname or ""
    return host == "api.openai.com" or host.endswith(".openai.com")


def _describe(api_key_env: str) -> str:
    # A name that is not upper case may be a key pasted by mistake, so it is not quoted.
    if _QUOTABLE_NAME.fullmatch(api_key_env):
        return f"environment variable {api_key_env}"
    return "the environment variable named by api_key_env (--api-key-env)"


def read_api_key(api_key_env: str | None, base_url: str) -> str:
    """Return the API key for ``base_url`` from the variable ``api_key_env``.

    ``api_key_env`` None or ``""`` sends :data:`PLACEHOLDER_API_KEY` on purpose, for
    servers without authentication. An unset or empty variable does the same for
    any server but OpenAI's, and logs that it did.

    Raises
    ------
    ValueError
        ``api_key_env`` is not a variable name.
    ModelError
        The variable is unset or empty and ``base_url`` is OpenAI's API.
    """
    if not api_key_env:
        return PLACEHOLDER_API_KEY
    if not isinstance(api_key_env, str) or not _VARIABLE_NAME.fullmatch(api_key_env):
        raise ValueError(
            "api_key_env (--api-key-env) must be the name of an environment variable "
            "(letters, digits and underscores), such as OPENAI_API_KEY. Put the key itself "
            "in that variable, never in an option."
        )
    key = os.environ.get(api_key_env, "").strip()
    if key:
        return key
    if is_openai_url(base_url):
        raise ModelError(
            f"{redact_url(base_url)} needs an API key, but the {_describe(api_key_env)} is unset or empty: "
            "export the key in it, or name another variable with --api-key-env."
        )
    logger.info(
        "The %s is unset or empty; sending a placeholder API key to %s, which servers "
        "without authentication accept.", _describe(api_key_env), redact_url(base_url),
    )
    return PLACEHOLDER_API_KEY
