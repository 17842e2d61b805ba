"""A container for secret bytes that will not print, compare by value or pickle itself."""

from __future__ import annotations

from typing import NoReturn


class KeyMaterial:
    """Raw key bytes. ``repr`` is redacted and pickling is refused, so material cannot leak by
    accident into a log line, a traceback or a cache serialised to disk."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        self._raw = bytes(raw)

    def reveal(self) -> bytes:
        """The raw bytes; call it only where an algorithm consumes them."""
        return self._raw

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"<KeyMaterial {len(self._raw) * 8} bits, redacted>"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("KeyMaterial cannot be pickled")
