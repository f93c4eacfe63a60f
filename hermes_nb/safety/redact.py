"""Secrets out of everything hermes_nb writes: logs, error lines, session files, exports.

One function, ``redact``, is applied at every exit point. It removes:

* the password of a URL (``https://user:pw@host/v1`` becomes ``https://user:***@host/v1``);
* the values of the environment variables whose names say they hold a secret
  (``is_secret_name``), wherever they appear, for instance echoed by a server in an
  error message;
* the values of URL query parameters that carry credentials (``?token=``, ``&key=``,
  ``access_token``, ``sig``, ``api_key``, ``password``, ...);
* strings shaped like API keys (``sk-...``, ``ghp_...``, ``AKIA...``) and, in logs,
  errors and notices (``headers=True``), the value of an ``Authorization`` or
  ``x-api-key`` header, a ``Bearer`` token or a secret-named assignment
  (``GITHUB_TOKEN=...``).

The name rule: a name is secret when, upper-cased, it *contains* ``KEY``, ``TOKEN``,
``SECRET``, ``PASSWORD``, ``PASSWD`` or ``CREDENTIAL`` (``AWS_SECRET_ACCESS_KEY``, ``STRIPE_SECRET_KEY``, ``HF_TOKEN``), or when one of its
``_``/``-``/``.``-separated parts *is* ``PAT`` or ``PWD`` (``GITHUB_PAT``), so ``PATH``
and ``PATTERN`` stay visible. Values shorter than 8 characters are never masked (they
would mask ordinary words). The same rule masks ``@name`` descriptions.

``install_log_redaction`` makes every log record of hermes_nb and of the HTTP
libraries below it (openai, anthropic, httpx, httpcore) pass through ``redact``,
tracebacks included, whatever handler the user attaches.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MASK",
    "LOGGERS",
    "install_log_redaction",
    "is_secret_name",
    "redact",
    "redact_query",
    "redact_url",
    "secret_values",
]

MASK = "***"
#: loggers (and their children) whose records are redacted
LOGGERS = ("hermes_nb", "openai", "anthropic", "httpx", "httpcore")

_SECRET_PART = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL")
_SECRET_WORDS = frozenset({"PAT", "PWD"})  # only as a whole part: not PATH, PATTERN
_NAME_PARTS = re.compile(r"[_.\-]+")
_MIN_SECRET = 8  # shorter values would mask ordinary words
#: ``?token=...``/``&api_key=...``: a query parameter whose name says it is a credential
_QUERY_SECRET = re.compile(
    r"(?i)(?P<head>[?&;](?P<name>[A-Za-z0-9_.\-]*(?:token|secret|passw(?:or)?d|signature|credential|"
    r"api[_-]?key|access[_-]?key|private[_-]?key|session[_-]?key)[A-Za-z0-9_.\-]*"
    r"|key|sig|auth|pat|pwd|x-amz-signature|x-goog-signature)=)(?P<value>[^&#\s\"'<>]+)"
)
_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<pw>[^/\s@]+)@")
#: OpenAI, Anthropic (sk-ant-), OpenRouter (sk-or-), GitHub, Slack, AWS access key ids, Hugging Face
_KEY_SHAPE = re.compile(
    r"\b(?:sk-[A-Za-z0-9_\-]{12,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16}|hf_[A-Za-z0-9]{30,})"
)
#: ``GITHUB_TOKEN=value`` / ``"api_key": "value"``: a secret-named assignment (logs, errors,
#: notices such as a server's stderr line; not tool results, where it is mostly code)
_ASSIGNMENT = re.compile(r"\b(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)(?P<sep>[\"']?\s*[=:]\s*[\"']?)(?P<value>[^\s\"',;}]{8,})")
#: credentials in HTTP traffic; only for logs and errors (in code a model reads,
#: ``api_key=os.environ[...]`` must stay as it is)
_HEADER_SHAPES = (
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"(?i)(\b(?:authorization|x-api-key|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)(?!\*\*\*)[^\s\"',}]{6,}"),
)


def is_secret_name(name: str) -> bool:
    """Whether a variable of this name holds a secret (the rule in the module docstring)."""
    upper = str(name).upper()
    if _SECRET_PART.search(upper):
        return True
    return any(part in _SECRET_WORDS for part in _NAME_PARTS.split(upper))


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values to mask: those of secret-named variables, longest first."""
    env = os.environ if environ is None else environ
    values = {
        v.strip() for k, v in env.items() if isinstance(v, str) and is_secret_name(k) and len(v.strip()) >= _MIN_SECRET
    }
    return sorted(values, key=len, reverse=True)  # a key containing another goes first



def redact_url(url: str) -> str:
    """A URL without the password of its user part."""
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)


def redact_query(text: str) -> str:
    """``text`` with the values of credential-carrying URL query parameters masked."""
    return _QUERY_SECRET.sub(lambda m: m["head"] + MASK if m["value"] != MASK else m[0], text)


def redact(text: Any, environ: Mapping[str, str] | None = None, *, headers: bool = True) -> str:
    """``text`` (made a string) without URL passwords or credential query parameters,
    secret variables' values or key-shaped strings.

    ``headers=False`` leaves ``Authorization:``/``api_key=``-like text alone: for tool
    results and exports, where it is more often code than a credential.
    """
    text = str(text)
    for secret in secret_values(environ):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _KEY_SHAPE.sub(MASK, redact_query(redact_url(text)))
    if headers:
        for pattern in _HEADER_SHAPES:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        text = _ASSIGNMENT.sub(_mask_assignment, text)
    return text


def _mask_assignment(match: re.Match[str]) -> str:
    if not is_secret_name(match["name"]) or match["value"].startswith(MASK):
        return match[0]
    return f"{match['name']}{match['sep']}{MASK}"


def _ours(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in LOGGERS)


_installed = False
_install_lock = threading.Lock()


def install_log_redaction() -> None:
    """Redact every record of hermes_nb's and its HTTP libraries' loggers at creation.

    A filter on the ``hermes_nb`` logger would not see records of its children (a
    logger's filters apply only to records logged on it), nor the SDKs' records; a
    record factory sees them all. Only records of those loggers are touched, and the
    factory in place before (if any) still builds every record.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _ours(record.name):
                _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def _redact_record(record: logging.LogRecord) -> None:
    try:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None  # a formatter would format it again, unredacted
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
    except Exception:  # a record that cannot be formatted is left to logging's own handling
        pass
