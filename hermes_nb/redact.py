"""Secrets out of everything hermes_nb writes: logs, error lines, session files, exports.

One function, ``redact``, is applied at every exit point. It removes:

* the password of a URL (``https://user:pw@host/v1`` becomes ``https://user:***@host/v1``);
* the values of the environment variables that hold keys (``OPENAI_API_KEY`` and any
  ``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``), wherever they appear, for
  instance echoed by a server in an error message;
* strings shaped like API keys (``sk-...``) and the value of an ``Authorization`` or
  ``x-api-key`` header or a ``Bearer`` token.

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

__all__ = ["MASK", "LOGGERS", "install_log_redaction", "redact", "redact_url"]

MASK = "***"
#: loggers (and their children) whose records are redacted
LOGGERS = ("hermes_nb", "openai", "anthropic", "httpx", "httpcore")

_SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD)$", re.IGNORECASE)
_MIN_SECRET = 8  # shorter values would mask ordinary words
_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<pw>[^/\s@]+)@")
_KEY_SHAPE = re.compile(r"\bsk-[A-Za-z0-9_\-]{12,}")  # OpenAI, Anthropic (sk-ant-), OpenRouter (sk-or-)
#: credentials in HTTP traffic; only for logs and errors (in code a model reads,
#: ``api_key=os.environ[...]`` must stay as it is)
_HEADER_SHAPES = (
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"(?i)(\b(?:authorization|x-api-key|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)(?!\*\*\*)[^\s\"',}]{6,}"),
)


def _env_secrets(environ: Mapping[str, str]) -> list[str]:
    values = {v.strip() for k, v in environ.items() if _SECRET_NAME.search(k) and len(v.strip()) >= _MIN_SECRET}
    return sorted(values, key=len, reverse=True)  # a key containing another goes first


def redact_url(url: str) -> str:
    """A URL without the password of its user part."""
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)


def redact(text: Any, environ: Mapping[str, str] | None = None, *, headers: bool = True) -> str:
    """``text`` (made a string) without URL passwords, key values or key-shaped strings.

    ``headers=False`` leaves ``Authorization:``/``api_key=``-like text alone: for tool
    results and exports, where it is more often code than a credential.
    """
    text = str(text)
    for secret in _env_secrets(os.environ if environ is None else environ):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _KEY_SHAPE.sub(MASK, redact_url(text))
    if headers:
        for pattern in _HEADER_SHAPES:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


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
