"""Parameter kinds only the secret actions use: ExtendedConfig in its two encodings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mamori.api.errors import invalid
from mamori.api.params import JsonParam, Raw, load_json


@dataclass(frozen=True, slots=True)
class JsonObjectText(JsonParam):
    """A JSON object, kept as its (re-serialized) text."""

    max_len: int = 8192

    def shape(self, value: Any) -> Any:
        """Check it is an object, and normalize."""
        if not isinstance(value, dict):
            raise invalid(self.name, "It must be a JSON object.")
        return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class CustomData(JsonParam):
    """UpdateSecret's ``ExtendedConfig``: the old SDK sends ``ExtendedConfig.CustomData`` as one
    JSON string, the new SDK flattens the map to ``ExtendedConfig.CustomData.<key>``."""

    def read(self, raw: Raw) -> Any:
        """The CustomData object, or None when neither encoding is present."""
        whole = f"{self.name}.CustomData"
        if raw.get(whole):
            value = load_json(whole, raw[whole])
            if not isinstance(value, dict):
                raise invalid(whole, "It must be a JSON object.")
            return value
        prefix = whole + "."
        flat = {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix)}
        return flat or None
