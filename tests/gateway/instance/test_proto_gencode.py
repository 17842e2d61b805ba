"""The checked-in ``_pb2`` modules are exactly what ``make proto`` makes from the ``.proto``.

grpcio-tools is a dev dependency pinned to one protoc, so this never skips: an edited ``.proto``
without a regeneration, or a hand edit of the generated code, fails here.
"""

from __future__ import annotations

from pathlib import Path

from grpc_tools import protoc

import mamori

SRC = Path(mamori.__file__).resolve().parent.parent
PROTO_DIR = SRC / "mamori" / "wire"


def test_generated_modules_match_the_proto(tmp_path: Path) -> None:
    protos = sorted(PROTO_DIR.glob("*.proto"))
    assert protos, "no .proto files"
    for proto in protos:
        # The same invocation as the Makefile's `proto` target.
        args = [
            "protoc",
            f"-I{SRC}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(proto.relative_to(SRC)),
        ]
        assert protoc.main(args) == 0, f"protoc failed on {proto.name}"
        relative = proto.relative_to(SRC).with_suffix("")
        for suffix in ("_pb2.py", "_pb2.pyi"):
            generated = tmp_path / f"{relative}{suffix}"
            checked_in = SRC / f"{relative}{suffix}"
            assert checked_in.read_bytes() == generated.read_bytes(), (
                f"{checked_in.name} is stale: run `make proto`"
            )
