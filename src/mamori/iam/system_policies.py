"""The system policies every account has from the start (policy type ``System``).

The documents are Alibaba's published ones; statements naming services Mamori does not have
(``accessanalyzer:…``, ``ram:GenerateCredentialReport``) are kept as published, and simply
match no action here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class SystemPolicy:
    """A built-in policy: its name, description and document (version ``v1``, never changes)."""

    name: str
    description: str
    document: str


def _doc(*actions: str) -> str:
    return _statements(list(actions))


def _statements(*actions: str | list[str]) -> str:
    """One Allow statement on every resource per item of ``actions``, in Alibaba's order."""
    return json.dumps(
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": a, "Resource": "*"} for a in actions],
        },
        separators=(",", ":"),
    )


SYSTEM_POLICIES: Final[dict[str, SystemPolicy]] = {
    p.name: p
    for p in (
        SystemPolicy(
            "AliyunKMSFullAccess", "Full access to Key Management Service (KMS)", _doc("kms:*")
        ),
        SystemPolicy(
            "AliyunKMSReadOnlyAccess",
            "Read-only access to Key Management Service (KMS)",
            _doc("kms:Describe*", "kms:List*", "kms:GetKeyPolicy", "kms:GetSecretPolicy"),
        ),
        SystemPolicy(
            "AliyunKMSCryptoUserAccess",
            "Use KMS keys for cryptographic operations",
            _doc(
                "kms:Describe*",
                "kms:List*",
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:GenerateAndExportDataKey",
                "kms:ExportDataKey",
                "kms:ReEncrypt",
                "kms:Asymmetric*",
                "kms:GetPublicKey",
                "kms:GenerateMac",
                "kms:VerifyMac",
            ),
        ),
        SystemPolicy(
            "AliyunKMSSecretAdminAccess",
            "Manage KMS secrets",
            _doc(
                "kms:*Secret*",
                "kms:GetRandomPassword",
                "kms:Describe*",
                "kms:List*",
                "kms:TagResource",
                "kms:UntagResource",
            ),
        ),
        SystemPolicy(
            "AliyunKMSSecretUserAccess",
            "Provides access to retrieve the secrets in KMS",
            _statements(["kms:GetSecretValue"], ["kms:DescribeSecret", "kms:ListSecretVersionIds"]),
        ),
        SystemPolicy(
            "AdministratorAccess",
            "Provides full access to Alibaba Cloud services and resources",
            _statements("*"),
        ),
        SystemPolicy(
            "AliyunRAMFullAccess",
            "Provides full access to Resource Access Management (RAM)",
            _statements("ram:*"),
        ),
        SystemPolicy(
            "AliyunRAMReadOnlyAccess",
            "Provides read-only access to Resource Access Management (RAM)",
            _statements(
                ["ram:Get*", "ram:List*", "ram:GenerateCredentialReport"],
                ["accessanalyzer:Get*", "accessanalyzer:List*"],
            ),
        ),
        SystemPolicy(
            "AliyunSTSAssumeRoleAccess",
            "Provides access to the API AssumeRole of Security Token Service (STS)",
            _statements("sts:AssumeRole"),
        ),
    )
}
