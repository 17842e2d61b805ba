"""Regenerate encryption_context.json with the official instance SDK's own function.

    pip download --no-deps alibabacloud-kms-python-sdk==1.1.3
    tar xzf alibabacloud-kms-python-sdk-1.1.3.tar.gz
    python tests/vectors/make_context_vectors.py alibabacloud-kms-python-sdk-1.1.3

The SDK module is loaded from the unpacked sdist by path: it needs only ``hashlib`` and ``json``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

CONTEXTS = [
    '{"a":"b"}',
    '{"b":"2","a":"1"}',
    '{"purpose":"unit test","ü":"ß","sym":"+ / * ~ = &"}',
    '{"Z":"upper","a":"lower","_":"under"}',
    '{"k":""}',
]


def main(sdist: Path) -> None:
    path = sdist / "alibabacloud_kms_kms20160120" / "utils" / "encryption_context_utils.py"
    spec = importlib.util.spec_from_file_location("encryption_context_utils", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    vectors = [
        {"context": json.loads(c), "aad": module.sort_and_encode(c, "utf-8").decode("ascii")}
        for c in CONTEXTS
    ]
    out = Path(__file__).with_name("encryption_context.json")
    out.write_text(json.dumps(vectors, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
