"""Secret keys: read from a file or an environment variable, never shown.

A :class:`SecretKey` holds the bytes of a data holder's linkage key (or of a registry's
person-ID salt). Its ``repr``/``str`` name only where it came from and a *key check value*
(an HMAC of a fixed message, as payment-card systems print one): two parties can see that
they hold the same key without either showing it. It has no ``to_dict`` and is never put in
a config, a log line or an output file; configs hold only a *reference* to the key
(``file:PATH`` or ``env:NAME``).

Every use of the key goes through :meth:`SecretKey.derive`: one sub-key per purpose (the NIK
hash, the name filter, the blocking rule "kk & sex"...), so the same value under two
purposes gives unrelated outputs and no output of one purpose helps to attack another.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from .errors import ConfigError

__all__ = ["SecretKey", "load_key"]

#: Shortest key accepted, in bytes (128 bits: NIST SP 800-107's floor for HMAC keys).
MIN_KEY_BYTES = 16


class SecretKey:
    """A secret key's bytes, with sub-keys derived per purpose.

    Parameters
    ----------
    secret : bytes
        At least :data:`MIN_KEY_BYTES` bytes.
    origin : str
        Where it came from, for messages (``"file /etc/keys/link.key"``); never the key.

    Examples
    --------
    >>> key = SecretKey(b"0123456789abcdef-not-a-real-key", origin="a test")
    >>> "0123" in repr(key)
    False
    >>> key.derive("nik") == key.derive("nik") != key.derive("no_kk")
    True
    """

    __slots__ = ("_secret", "origin")

    def __init__(self, secret: bytes, *, origin: str) -> None:
        if not isinstance(secret, bytes) or len(secret) < MIN_KEY_BYTES:
            n = len(secret) if isinstance(secret, bytes) else 0
            raise ConfigError(
                f"the secret key from {origin} is too short ({n} bytes); use at least {MIN_KEY_BYTES} "
                "random bytes, e.g. `openssl rand -hex 32 > link.key`")
        self._secret = secret
        self.origin = origin

    def derive(self, purpose: str) -> bytes:
        """The 32-byte sub-key of ``purpose`` (HMAC-SHA256 of the purpose under the key)."""
        return hmac.digest(self._secret, b"regsosek-link/v1/" + purpose.encode("utf-8"), "sha256")

    @property
    def check_value(self) -> str:
        """Eight hex digits that tell keys apart without revealing them."""
        return self.derive("key check value").hex()[:8]

    def __repr__(self) -> str:
        return f"SecretKey(origin={self.origin!r}, check_value={self.check_value!r})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a SecretKey cannot be pickled; pass the key's file or environment variable instead")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretKey) and hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.check_value)


def _from_text(data: bytes, origin: str) -> SecretKey:
    """Key bytes from a file's or variable's content: hex if it is hex, else the bytes as they
    are; surrounding whitespace (a trailing newline) is not part of the key."""
    text = data.strip()
    try:
        raw = bytes.fromhex(text.decode("ascii")) if len(text) % 2 == 0 else None
    except (UnicodeDecodeError, ValueError):
        raw = None
    return SecretKey(raw if raw else text, origin=origin)


def load_key(ref: str | os.PathLike[str] | SecretKey | None = None, *, file: str | os.PathLike[str] | None = None,
             env: str | None = None) -> SecretKey:
    """The secret key named by ``ref`` (``file:PATH``, ``env:NAME`` or a path), ``file`` or ``env``.

    The file or variable holds the key as hex digits (``openssl rand -hex 32``) or as raw
    bytes. A key file readable by other users is refused.

    Raises
    ------
    ConfigError
        No key named, an unset variable, a key file others can read, or a key too short.
    OSError
        A key file that cannot be read.
    """
    if isinstance(ref, SecretKey):
        return ref
    if ref is not None:
        ref = os.fspath(ref)
        if ref.startswith("env:"):
            env = ref[4:]
        else:
            file = ref.removeprefix("file:")
    if (file is None) == (env is None):
        raise ConfigError("name the secret key by exactly one of a key file (--key-file, 'file:PATH') or an "
                          "environment variable (--key-env, 'env:NAME')")
    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"the environment variable {env!r} that should hold the secret key is not set or empty")
        return _from_text(value.encode("utf-8"), f"environment variable {env}")
    path = Path(file)  # type: ignore[arg-type]
    mode = path.stat().st_mode
    if os.name == "posix" and mode & 0o077:
        raise ConfigError(
            f"the key file {str(path)!r} can be read by other users (mode {mode & 0o777:o}); "
            f"make it yours only: chmod 600 {path}")
    return _from_text(path.read_bytes(), f"file {path}")


def keyed_digests(key: bytes, values: list[str], *, size: int = 16) -> list[bytes]:
    """HMAC-SHA256 (RFC 2104) of each value (UTF-8) under ``key``, its first ``size`` bytes.

    The keyed inner and outer SHA-256 states are made once and copied per value (what
    :mod:`hmac` does, without its Python-level object per value: twice as fast).

    >>> import hmac
    >>> keyed_digests(b"k" * 32, ["3375014508900001"], size=32)[0] == hmac.digest(b"k" * 32, b"3375014508900001", "sha256")
    True
    """
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(64, b"\0")
    inner_copy = hashlib.sha256(bytes(b ^ 0x36 for b in padded)).copy
    outer_copy = hashlib.sha256(bytes(b ^ 0x5C for b in padded)).copy

    def one(value: str) -> bytes:
        inner = inner_copy()
        inner.update(value.encode("utf-8"))
        outer = outer_copy()
        outer.update(inner.digest())
        return outer.digest()[:size]

    return [one(v) for v in values]
