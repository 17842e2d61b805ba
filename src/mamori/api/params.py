"""Parameter kinds: how a wire parameter (always a string, or a flattened family of strings)
becomes a typed value, with the documented error when it cannot.

Map and list parameters reach the server in two spellings, and every one of them is read in
both: one JSON string (``EncryptionContext={"lang":"ts"}``, what the new SDK's "shrink" fields
send) or flattened the way RPC-style SDK generations flatten a dict or a list
(``EncryptionContext.lang=ts``, ``Tags.1.TagKey=k``). A request giving both is refused: which one
would the ciphertext be bound to? The flattened form is rebuilt into the JSON value it stands for
and then goes through the very same checks (``shape``), so the injectivity rule of
``EncryptionContext`` (``mamori.crypto.context.ambiguity``) holds whichever way it was sent.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from mamori.api.errors import invalid, missing
from mamori.crypto.context import ambiguity

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
    # Whether ``name.<something>`` wire names belong to this parameter (its flattened form):
    # the catalogue refuses any other dotted name (``Action.check_names``).
    flattens: ClassVar[bool] = False

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
            # What b64decode(validate=True) does, without its copy of the text as bytes.
            value = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            raise invalid(self.name, "It is not valid base64.") from None
        if len(value) > self.max_bytes:
            raise invalid(self.name, f"It decodes to more than {self.max_bytes} bytes.")
        return value


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _DuplicateKey
    return value


# Built once: ``json.loads`` with a hook would build a decoder per call (a microsecond each).
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


# A NUL or a UTF-16 surrogate can only come from a JSON escape (the gateway decodes the query
# and the body as UTF-8, with replacement), so documents without ``\\u`` skip the walk.
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def _unsafe_string(value: Any) -> str:
    """The first string in a parsed document that holds a NUL or a lone surrogate; empty when
    there is none."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and _UNSAFE.search(item):
            return item
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return ""


def load_json(name: str, text: str) -> Any:
    """The one reader of JSON parameters: refuses with ``InvalidParameter`` naming ``name`` what
    the store or a condition could not take as one unambiguous value (a duplicate key, a NUL, a
    lone UTF-16 surrogate) as well as what is not JSON."""
    if len(text) > _MAX_JSON:
        raise invalid(name, f"It is longer than {_MAX_JSON} characters.")
    try:
        value = _DECODER.decode(text)
    except _DuplicateKey:
        raise invalid(name, "An object names the same key twice.") from None
    except (ValueError, RecursionError):  # RecursionError: nesting like "[[[[…"
        raise invalid(name, "It is not valid JSON.") from None
    # PostgreSQL text cannot hold a NUL, and no UTF-8 store or hash can take a lone surrogate
    # (either would be a 500).
    if "\\u" in text:
        unsafe = _unsafe_string(value)
        if "\x00" in unsafe:
            raise invalid(name, "It contains a NUL character.")
        if unsafe:
            raise invalid(name, "It contains a lone UTF-16 surrogate.")
    return value


# At most this many flattened entries per parameter (a list of 100 tags with two fields each).
_FLAT_ENTRIES: Final = 1000
# A flattened list index: 1-based decimal, no sign, no leading zero (``.01`` and ``.1`` must not
# both stand for the first element, one of them silently overwritten).
# A list index: canonical digits only, so no two spellings name one entry; nine digits keep
# int() far from its limit.
_INDEX: Final = re.compile(r"[1-9][0-9]{0,8}")


def flat_entries(raw: Raw, name: str) -> dict[str, str]:
    """The flattened entries of parameter ``name``: ``name.<rest>`` → {rest: value}."""
    prefix = name + "."
    cut = len(prefix)
    return {key[cut:]: value for key, value in raw.items() if key.startswith(prefix)}


def _both_forms(name: str) -> Exception:
    return invalid(name, f"It is given both as one value and flattened ({name}.…); send one.")


def unflatten(name: str, flat: Mapping[str, str]) -> Any:
    """The JSON value a flattened family stands for: dotted paths become nested objects, and an
    object whose keys are exactly ``1`` … ``n`` a list (the inverse of the SDKs' flattening)."""
    root: dict[str, Any] = {}
    for path, value in flat.items():
        node = root
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise invalid(name, f"{name}.{path} is both a value and a container.")
            node = child
        if leaf in node:
            raise invalid(name, f"{name}.{path} is both a value and a container.")
        node[leaf] = value
    return _lists(name, root)


def _lists(name: str, node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {key: _lists(name, value) for key, value in node.items()}
    if items and all(_INDEX.fullmatch(key) for key in items):
        count = len(items)
        if any(int(key) > count for key in items):
            raise invalid(name, "Flattened list indexes must run 1, 2, … without a gap.")
        return [items[str(index)] for index in range(1, count + 1)]
    if any(key.isdigit() for key in items):
        # ``.01``, ``.0`` or an index mixed with names: no SDK writes that, and reading it would
        # guess (two spellings of one index, one silently overwritten).
        raise invalid(name, "A flattened list index must be 1, 2, … (no leading zero).")
    return items


@dataclass(frozen=True, slots=True)
class JsonParam(Param):
    """A parameter holding one JSON document, or the same document flattened. Every such
    parameter is read by ``load_json`` (or ``from_flat``) and then ``shape``d; the security
    tests walk the catalogue for these."""

    flattens: ClassVar[bool] = True

    def read(self, raw: Raw) -> Any:
        """The typed value from either form; both at once are refused."""
        flat = flat_entries(raw, self.name)
        if not flat:
            return Param.read(self, raw)
        if self.name in raw:
            raise _both_forms(self.name)
        if len(flat) > _FLAT_ENTRIES:
            raise invalid(self.name, f"At most {_FLAT_ENTRIES} flattened entries are allowed.")
        if sum(len(k) + len(v) + 2 for k, v in flat.items()) > self.max_len:
            raise invalid(self.name, f"It is longer than {self.max_len} characters.")
        return self.shape(self.from_flat(flat))

    def from_flat(self, flat: Mapping[str, str]) -> Any:
        """The JSON value the flattened entries (``rest`` → value) stand for."""
        return unflatten(self.name, flat)

    def convert(self, text: str) -> Any:
        """Read the document, then check and convert its shape."""
        return self.shape(load_json(self.name, text))

    def shape(self, value: Any) -> Any:
        """The typed value of a parsed document."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class JsonMap(JsonParam):
    """An EncryptionContext: a JSON object of string → string, refused when another map could
    share its AAD (``mamori.crypto.context.ambiguity``)."""

    max_len: int = _MAX_JSON

    def from_flat(self, flat: Mapping[str, str]) -> Any:
        """``EncryptionContext.<key>=<value>``: everything after the first dot is the key, dots
        included (the SDKs flatten the key ``a.b`` to ``EncryptionContext.a.b``)."""
        return dict(flat)

    def shape(self, value: Any) -> Any:
        """Check every value is a string and every pair is unambiguous."""
        if not isinstance(value, dict):
            raise invalid(self.name, "It must be a JSON object of strings.")
        for key, val in value.items():
            if not isinstance(val, str):
                raise invalid(self.name, "It must be a JSON object of strings.")
            why = ambiguity(key, val)
            if why:
                raise invalid(self.name, why)
        return value


@dataclass(frozen=True, slots=True)
class JsonTags(JsonParam):
    """``[{"TagKey": "k", "TagValue": "v"}, ...]`` → [(k, v), ...]."""

    def shape(self, value: Any) -> Any:
        """Check and convert the tag list."""
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
class JsonStrList(JsonParam):
    """``["a", "b"]`` → ["a", "b"]."""

    def shape(self, value: Any) -> Any:
        """Check the list of strings."""
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(self.name, "It must be a JSON array of strings.")
        return value


@dataclass(frozen=True, slots=True)
class JsonFilters(JsonParam):
    """``[{"Key": k, "Values": [v, ...]}, ...]`` → {k: [v, ...]} (values OR'ed, keys AND'ed)."""

    keys: tuple[str, ...] = ()
    max_entries: int = 10

    def shape(self, value: Any) -> Any:
        """Check every filter key is known."""
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


# One spelling per index, so two names never collapse into one entry ('1' and '01'), and only
# ASCII digits: str.isdigit() passes '²', which int() refuses, and '٣', which it reads as 3.
# Nine digits at most keep int() far from its limit on an attacker's string.
def _index(name: str, text: str, form: str) -> int:
    """The N of a numbered parameter ``name`` (spelled ``form``), else InvalidParameter. The
    names of a request are distinct, so canonical indexes are too: no duplicate to check."""
    if _INDEX.fullmatch(text) is None:
        raise invalid(name, f"Each entry is {form}, N from 1.")
    return int(text)


@dataclass(frozen=True, slots=True)
class FlatList(Param):
    """``Name.1``, ``Name.2``, … → [v1, v2, …] (1-based, in index order). Any other
    ``Name.<x>`` is refused, and so is ``Name`` itself: nothing sent under the name is dropped."""

    flattens: ClassVar[bool] = True

    def read(self, raw: Raw) -> Any:
        """Collect the numbered parameters."""
        if self.name in raw:
            raise invalid(self.name, f"Send it flattened: {self.name}.1, {self.name}.2, ….")
        items: dict[int, str] = {}
        for index, value in flat_entries(raw, self.name).items():
            items[_index(self.name, index, f"{self.name}.N")] = value
        if len(items) > _FLAT_MAX:
            raise invalid(self.name, f"At most {_FLAT_MAX} entries are allowed.")
        if not items:
            if self.required:
                raise missing(self.name + ".1")
            return None
        return [items[i] for i in sorted(items)]


@dataclass(frozen=True, slots=True)
class FlatTags(Param):
    """``Tag.N.Key`` / ``Tag.N.Value`` → [(key, value), …]. Any other ``Tag.<x>``, and ``Tag``
    itself, is refused."""

    flattens: ClassVar[bool] = True

    def read(self, raw: Raw) -> Any:
        """Collect the numbered key/value pairs."""
        if self.name in raw:
            raise invalid(self.name, f"Send it flattened: {self.name}.1.Key, {self.name}.1.Value.")
        keys: dict[int, str] = {}
        values: dict[int, str] = {}
        form = f"{self.name}.N.Key or {self.name}.N.Value"
        for rest, value in flat_entries(raw, self.name).items():
            index, _, field = rest.partition(".")
            if field not in ("Key", "Value"):
                raise invalid(self.name, f"Each entry is {form}, N from 1.")
            (keys if field == "Key" else values)[_index(self.name, index, form)] = value
        if len(keys) > _FLAT_MAX:
            raise invalid(self.name, f"At most {_FLAT_MAX} entries are allowed.")
        if not keys:
            if self.required:
                raise missing(self.name + ".1.Key")
            return None
        return [(keys[i], values.get(i, "")) for i in sorted(keys)]
