"""Microbenchmark: evaluating a typical identity policy (3 statements, one condition).

    .venv/bin/python benchmarks/policy_micro.py

Prints microseconds per call (best of several timeit repeats). The target is a few µs per
``evaluate``; parsing is paid once per document (``parse_policy_cached``).
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable
from datetime import UTC, datetime

from mamori.iam.policy import (
    NamedPolicy,
    RequestContext,
    evaluate,
    evaluate_cross,
    parse_policy,
    parse_policy_cached,
)

ACCOUNT = "1192853035000000"
KEY = f"acs:kms:cn-hangzhou:{ACCOUNT}:key/key-hzz6f0e9ea4b5lq1r1x6s"
DOCUMENT = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {
                "Sid": "ReadKeys",
                "Effect": "Allow",
                "Action": ["kms:Describe*", "kms:List*", "kms:Get*"],
                "Resource": f"acs:kms:*:{ACCOUNT}:*",
            },
            {
                "Sid": "UseKeysFromOffice",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": f"acs:kms:*:{ACCOUNT}:key/*",
                "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
            },
            {
                "Sid": "NeverDelete",
                "Effect": "Deny",
                "Action": "kms:ScheduleKeyDeletion",
                "Resource": "*",
            },
        ],
    }
)
KEY_POLICY = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"RAM": [f"acs:ram::{ACCOUNT}:*"]},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
)
CTX = RequestContext(
    source_ip="10.1.2.3",
    current_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    secure_transport=True,
    principal_arn=f"acs:ram::{ACCOUNT}:user/alice",
)


def per_call_us(func: Callable[[], object], number: int = 100_000) -> float:
    """Best-of-5 microseconds per call."""
    return min(timeit.repeat(func, number=number, repeat=5)) / number * 1e6


def main() -> None:
    """Print the figures."""
    policies = [NamedPolicy("KmsApp", parse_policy(DOCUMENT))]
    key_policy = parse_policy(KEY_POLICY, resource_policy=True)
    allowed = evaluate(policies, "kms:Encrypt", KEY, CTX)
    rows: list[tuple[str, Callable[[], object]]] = [
        ("evaluate: Encrypt, allowed", lambda: evaluate(policies, "kms:Encrypt", KEY, CTX)),
        (
            "evaluate: implicit deny",
            lambda: evaluate(policies, "kms:CreateKey", KEY, CTX),
        ),
        (
            "evaluate: explicit deny",
            lambda: evaluate(policies, "kms:ScheduleKeyDeletion", KEY, CTX),
        ),
        (
            "evaluate_cross (same account)",
            lambda: evaluate_cross(allowed, key_policy, "kms:Encrypt", KEY, CTX, same_account=True),
        ),
        ("parse_policy_cached (hit)", lambda: parse_policy_cached(DOCUMENT)),
    ]
    for name, func in rows:
        print(f"{name:32s}{per_call_us(func):7.2f} µs")
    cold = per_call_us(lambda: parse_policy(DOCUMENT), 2_000)
    print(f"{'parse_policy (cold)':32s}{cold:7.2f} µs")


if __name__ == "__main__":
    main()
