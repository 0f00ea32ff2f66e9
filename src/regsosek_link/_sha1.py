"""SHA-1 of many short byte strings at once, in numpy.

Person IDs are the first 16 hex digits of the SHA-1 of an anchor record's key
(:func:`regsosek_link.cluster.hash_id`). ``hashlib`` hashes one key per call and holds the
GIL for keys under 2 KiB, so the IDs of a million-record run held it for a fifth of a
second while the registry's other threads waited. Here every key of a chunk goes through
the 80 rounds together as columns of ``uint32`` (numpy releases the GIL in each operation);
the digests are the same bytes (FIPS 180-4).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["sha1_digests"]

_INITIAL = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
_ROUND_CONSTANTS = tuple(np.uint32(k) for k in (0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xCA62C1D6))
#: keys hashed together: their working columns stay in the CPU's cache
_CHUNK = 1 << 13


def sha1_digests(keys: pa.Array) -> np.ndarray:
    """``hashlib.sha1(key).digest()`` of each key (an Arrow string or binary array without
    nulls; strings hash as their UTF-8 bytes), as an ``(n, 20)`` ``uint8`` array.

    >>> import hashlib
    >>> keys = pa.array(["siak|1", "", "x" * 200])
    >>> [bytes(d) for d in sha1_digests(keys)] == [hashlib.sha1(k.encode()).digest() for k in keys.to_pylist()]
    True
    """
    if keys.null_count:
        raise ValueError("keys to hash must not be null")
    keys = keys.cast(pa.large_binary())
    n = len(keys)
    _, offsets_buffer, data_buffer = keys.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int64)[keys.offset:keys.offset + n + 1]
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    # message, a 0x80 byte, zeros, and the length in bits as 8 bytes: whole 64-byte blocks
    blocks = (lengths + 8) // 64 + 1
    out = np.empty((n, 20), np.uint8)
    for n_blocks in np.unique(blocks).tolist():  # (short keys: one block; a few values at most)
        rows = np.flatnonzero(blocks == n_blocks)
        for lo in range(0, len(rows), _CHUNK):
            part = rows[lo:lo + _CHUNK]
            out[part] = _digests(data, offsets[part], lengths[part], n_blocks)
    return out


def _digests(data: np.ndarray, start: np.ndarray, length: np.ndarray, n_blocks: int) -> np.ndarray:
    """SHA-1 digests of the messages ``data[start:start + length]`` that pad to ``n_blocks`` blocks."""
    m, width = len(start), n_blocks * 64
    message = np.zeros((m, width), np.uint8)
    for j in range(int(length.max(initial=0))):  # byte j of every message long enough
        has = np.flatnonzero(length > j)
        message[has, j] = data[start[has] + j]
    message[np.arange(m), length] = 0x80
    message[:, width - 8:] = (length.astype(np.uint64) * 8).astype(">u8").view(np.uint8).reshape(m, 8)
    words = message.view(">u4").astype(np.uint32)  # big-endian 32-bit words
    h = [np.full(m, v, np.uint32) for v in _INITIAL]
    for block in range(n_blocks):
        w = [np.ascontiguousarray(words[:, block * 16 + t]) for t in range(16)]
        a, b, c, d, e = h
        for t in range(80):
            if t >= 16:  # the message schedule, sixteen words kept
                x = w[(t - 3) % 16] ^ w[(t - 8) % 16]
                x ^= w[(t - 14) % 16]
                x ^= w[t % 16]
                w[t % 16] = (x << 1) | (x >> 31)  # type: ignore[assignment]  # numpy's stubs widen uint32 shifts
            if t < 20:
                f = (b & c) | (~b & d)
            elif 40 <= t < 60:
                f = (b & c) | (b & d) | (c & d)
            else:
                f = b ^ c ^ d
            temp = (a << 5) | (a >> 27)
            temp += f
            temp += e
            temp += _ROUND_CONSTANTS[t // 20]
            temp += w[t % 16]
            a, b, c, d, e = temp, a, (b << 30) | (b >> 2), c, d  # type: ignore[assignment]  # as above
        h = [h[0] + a, h[1] + b, h[2] + c, h[3] + d, h[4] + e]
    return np.stack(h, axis=1).astype(">u4").view(np.uint8).reshape(m, 20)
