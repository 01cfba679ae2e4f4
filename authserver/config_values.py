"""How each kind of setting is written, and the one-line error for a value that is not.

Every duration setting takes whole seconds (``300``) or a number with a unit (``500ms``, ``30s``, ``15m``, ``12h``,
``90d``, ``2w``); an interval may be fractional (``0.5``). A bad value is a ConfigError naming the setting, which the
command line prints as one line, never a traceback.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .durations import MAX_SECONDS


class ConfigError(Exception):
    """A configuration value that the server must not start with."""


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^([0-9]{1,10}(?:\.[0-9]{1,6})?)(ms|s|m|h|d|w)?$")


def _describe(seconds: float) -> str:
    for unit in ("w", "d", "h", "m", "s"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds}s"


def duration_seconds(value: object, key: str, *, minimum: float = 0, maximum: float = MAX_SECONDS) -> float:
    """Seconds in ``value`` (a number, or text like ``90d``) from ``minimum`` to ``maximum``."""
    if isinstance(value, bool):
        seconds = -1.0
    elif isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).strip().lower())
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"] if match else -1.0
    if not minimum <= seconds <= maximum:
        raise ConfigError(
            f"{key} must be a duration from {_describe(minimum) if minimum else '0'} to {_describe(maximum)}, "
            f"like 30s, 15m, 12h or 90d (got {str(value)[:40]!r})"
        )
    return seconds


def whole_seconds(value: object, key: str, *, minimum: int = 0, maximum: int = MAX_SECONDS) -> int:
    """A duration setting that must be whole seconds (token lifetimes, windows kept in INTEGER columns)."""
    seconds = duration_seconds(value, key, minimum=minimum, maximum=maximum)
    if seconds != int(seconds):
        raise ConfigError(f"{key} must be whole seconds (got {str(value)[:40]!r})")
    return int(seconds)


def optional_duration(value: object, key: str, *, minimum: float = 1, maximum: float = MAX_SECONDS) -> int | None:
    """A duration, or ``off`` (None): retention windows and periodic jobs an operator may turn off."""
    if isinstance(value, str) and value.strip().lower() == "off":
        return None
    if value is None:
        return None
    return int(duration_seconds(value, key, minimum=minimum, maximum=maximum))


def whole_number(value: object, key: str, *, minimum: int, maximum: int) -> int:
    """A count (workers, threads, bytes) from ``minimum`` to ``maximum``."""
    text = str(value).strip()
    # isascii: str.isdigit() also accepts "²", which int() refuses; and int() refuses past 4300 digits
    is_count = text.isascii() and text.isdigit() and len(text) <= 12
    if isinstance(value, bool) or not is_count or not minimum <= int(text) <= maximum:
        raise ConfigError(f"{key} must be a whole number from {minimum} to {maximum} (got {text[:40]!r})")
    return int(text)


def choice(value: object, key: str, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)} (got {str(value)[:40]!r})")
    return text


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def scanner_keys_url(value: object) -> str | None:
    """The secret scanner's key document URL: https, or plain http to a loopback address only (a test's or a local
    proxy's): the keys it serves decide which alerts may revoke tokens, so they must not be open to tampering."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    key = "AUTHSERVER_SECRET_SCANNING_KEYS_URL"
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        raise ConfigError(f"{key} is not a URL (got {text[:60]!r})") from None
    if not host or parts.scheme not in ("http", "https") or parts.username or parts.password:
        raise ConfigError(f"{key} must be an https URL, like https://api.github.com/meta/public_keys/secret_scanning")
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ConfigError(f"{key} must use https unless it is a loopback address (got {text[:60]!r})")
    return text
