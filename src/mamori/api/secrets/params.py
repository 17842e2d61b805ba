"""Parameter kinds only the secret actions use: ExtendedConfig in its two encodings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mamori.api.errors import invalid
from mamori.api.params import JsonParam, Raw, flat_entries, load_json


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
    JSON string, the new SDK flattens the map to ``ExtendedConfig.CustomData.<key>``. Both at
    once, ``ExtendedConfig`` itself, or any other ``ExtendedConfig.<field>`` is refused:
    UpdateSecret changes CustomData only, and a field it would drop must not look accepted."""

    def read(self, raw: Raw) -> Any:
        """The CustomData object, or None when neither encoding is present."""
        whole = f"{self.name}.CustomData"
        if self.name in raw:
            raise invalid(self.name, f"Send {whole} (UpdateSecret changes CustomData only).")
        flat: dict[str, str] = {}
        for rest, value in flat_entries(raw, self.name).items():
            if rest.startswith("CustomData."):
                flat[rest[len("CustomData.") :]] = value
            elif rest != "CustomData":
                raise invalid(f"{self.name}.{rest}"[:64], "UpdateSecret changes CustomData only.")
        if whole in raw:
            if flat:
                raise invalid(whole, f"It is given both as one value and flattened ({whole}.…).")
            if not raw[whole]:
                return None
            value = load_json(whole, raw[whole])
            if not isinstance(value, dict):
                raise invalid(whole, "It must be a JSON object.")
            return value
        return flat or None
