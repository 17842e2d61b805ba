"""Parameter kinds: how a wire parameter (always a string, or a flattened family of strings)
becomes a typed value, with the documented error when it cannot."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mamori.api.errors import invalid, missing

Raw = Mapping[str, str]
_MAX_JSON = 8192


@dataclass(frozen=True, slots=True)
class Param:
    """A scalar string parameter; subclasses convert. ``required`` raises MissingParameter."""

    name: str
    required: bool = False
    max_len: int = 4096
    choices: tuple[str, ...] = ()
    pattern: str = ""

    def read(self, raw: Raw) -> Any:
        """The typed value, or None when absent and optional."""
        text = raw.get(self.name)
        if text is None or text == "":
            if self.required:
                raise missing(self.name)
            return None
        if len(text) > self.max_len:
            raise invalid(self.name, f"It is longer than {self.max_len} characters.")
        return self.convert(text)

    def convert(self, text: str) -> Any:
        """Turn the present, length-checked string into the value."""
        if self.choices and text not in self.choices:
            raise invalid(self.name, f"It must be one of {', '.join(self.choices)}.")
        if self.pattern and not re.fullmatch(self.pattern, text):
            raise invalid(self.name)
        return text


@dataclass(frozen=True, slots=True)
class Str(Param):
    """A plain string."""


@dataclass(frozen=True, slots=True)
class Int(Param):
    """A decimal integer within [low, high]."""

    low: int = 0
    high: int = 2**31 - 1

    def convert(self, text: str) -> Any:
        """Parse the decimal."""
        try:
            value = int(text.strip())
        except ValueError:
            raise invalid(self.name, "It must be an integer.") from None
        if not self.low <= value <= self.high:
            raise invalid(self.name, f"It must be between {self.low} and {self.high}.")
        return value


@dataclass(frozen=True, slots=True)
class Bool(Param):
    """``true``/``false`` in any case (the SDKs send Python's ``True``/``False``)."""

    def convert(self, text: str) -> Any:
        """Parse the boolean."""
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise invalid(self.name, "It must be true or false.")
        return lowered == "true"


@dataclass(frozen=True, slots=True)
class B64(Param):
    """Standard base64 decoding to at most ``max_bytes`` bytes."""

    max_bytes: int = 6144

    def convert(self, text: str) -> Any:
        """Decode strictly."""
        try:
            value = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise invalid(self.name, "It is not valid base64.") from None
        if len(value) > self.max_bytes:
            raise invalid(self.name, f"It decodes to more than {self.max_bytes} bytes.")
        return value


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _load_json(name: str, text: str) -> Any:
    if len(text) > _MAX_JSON:
        raise invalid(name, f"It is longer than {_MAX_JSON} characters.")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting like "[[[[…"
        raise invalid(name, "It is not valid JSON.") from None
    # The gateway refuses raw NULs; JSON can still spell one \u0000, and PostgreSQL text
    # cannot hold it (a 500 in the store).
    if "\\u0000" in text and _has_nul(value):
        raise invalid(name, "It contains a NUL character.")
    return value


@dataclass(frozen=True, slots=True)
class JsonMap(Param):
    """A JSON object of string → string (EncryptionContext)."""

    max_len: int = _MAX_JSON

    def convert(self, text: str) -> Any:
        """Parse and check every key and value is a string."""
        value = _load_json(self.name, text)
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise invalid(self.name, "It must be a JSON object of strings.")
        return value


@dataclass(frozen=True, slots=True)
class JsonTags(Param):
    """``[{"TagKey": "k", "TagValue": "v"}, ...]`` → [(k, v), ...]."""

    def convert(self, text: str) -> Any:
        """Parse the tag list."""
        value = _load_json(self.name, text)
        if not isinstance(value, list):
            raise invalid(self.name, "It must be a JSON array of tags.")
        pairs: list[tuple[str, str]] = []
        for item in value:
            if not isinstance(item, dict):
                raise invalid(self.name, "Each tag must be an object.")
            key, val = item.get("TagKey"), item.get("TagValue", "")
            if not isinstance(key, str) or not isinstance(val, str):
                raise invalid(self.name, "TagKey and TagValue must be strings.")
            pairs.append((key, val))
        return pairs


@dataclass(frozen=True, slots=True)
class JsonStrList(Param):
    """``["a", "b"]`` → ["a", "b"]."""

    def convert(self, text: str) -> Any:
        """Parse the list of strings."""
        value = _load_json(self.name, text)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(self.name, "It must be a JSON array of strings.")
        return value


@dataclass(frozen=True, slots=True)
class JsonFilters(Param):
    """``[{"Key": k, "Values": [v, ...]}, ...]`` → {k: [v, ...]} (values OR'ed, keys AND'ed)."""

    keys: tuple[str, ...] = ()
    max_entries: int = 10

    def convert(self, text: str) -> Any:
        """Parse and check every filter key is known."""
        value = _load_json(self.name, text)
        if not isinstance(value, list) or len(value) > self.max_entries:
            raise invalid(self.name, f"It must be a JSON array of at most {self.max_entries}.")
        result: dict[str, list[str]] = {}
        for item in value:
            if not isinstance(item, dict):
                raise invalid(self.name, "Each filter must be an object.")
            key, values = item.get("Key"), item.get("Values")
            if key not in self.keys:
                raise invalid(self.name, f"Unknown filter key {key!r}.")
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise invalid(self.name, "Values must be an array of strings.")
            result.setdefault(key, []).extend(values)
        return result


_FLAT_MAX = 100


@dataclass(frozen=True, slots=True)
class FlatList(Param):
    """``Name.1``, ``Name.2``, … → [v1, v2, …] (1-based, in index order)."""

    def read(self, raw: Raw) -> Any:
        """Collect the numbered parameters."""
        items: dict[int, str] = {}
        prefix = self.name + "."
        for key, value in raw.items():
            if key.startswith(prefix) and key[len(prefix) :].isdigit():
                items[int(key[len(prefix) :])] = value
        if len(items) > _FLAT_MAX:
            raise invalid(self.name, f"At most {_FLAT_MAX} entries are allowed.")
        if not items:
            if self.required:
                raise missing(self.name + ".1")
            return None
        return [items[i] for i in sorted(items)]


@dataclass(frozen=True, slots=True)
class FlatTags(Param):
    """``Tag.N.Key`` / ``Tag.N.Value`` → [(key, value), …]."""

    def read(self, raw: Raw) -> Any:
        """Collect the numbered key/value pairs."""
        keys: dict[int, str] = {}
        values: dict[int, str] = {}
        prefix = self.name + "."
        for name, value in raw.items():
            if not name.startswith(prefix):
                continue
            index, _, field = name[len(prefix) :].partition(".")
            if not index.isdigit() or field not in ("Key", "Value"):
                continue
            (keys if field == "Key" else values)[int(index)] = value
        if len(keys) > _FLAT_MAX:
            raise invalid(self.name, f"At most {_FLAT_MAX} entries are allowed.")
        if not keys:
            if self.required:
                raise missing(self.name + ".1.Key")
            return None
        return [(keys[i], values.get(i, "")) for i in sorted(keys)]
