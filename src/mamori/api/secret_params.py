"""Parameter kinds only the secret actions use: ExtendedConfig in its two encodings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mamori.api.errors import invalid
from mamori.api.params import Param, Raw


@dataclass(frozen=True, slots=True)
class JsonObjectText(Param):
    """A JSON object, kept as its (re-serialized) text."""

    max_len: int = 8192

    def convert(self, text: str) -> Any:
        """Parse, check it is an object, and normalize."""
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            raise invalid(self.name, "It is not valid JSON.") from None
        if not isinstance(value, dict):
            raise invalid(self.name, "It must be a JSON object.")
        return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class CustomData(Param):
    """UpdateSecret's ``ExtendedConfig``: the old SDK sends ``ExtendedConfig.CustomData`` as one
    JSON string, the new SDK flattens the map to ``ExtendedConfig.CustomData.<key>``."""

    def read(self, raw: Raw) -> Any:
        """The CustomData object, or None when neither encoding is present."""
        whole = f"{self.name}.CustomData"
        if raw.get(whole):
            try:
                value = json.loads(raw[whole])
            except (ValueError, RecursionError):
                raise invalid(whole, "It is not valid JSON.") from None
            if not isinstance(value, dict):
                raise invalid(whole, "It must be a JSON object.")
            return value
        prefix = whole + "."
        flat = {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix)}
        return flat or None
