"""The system policies every account has from the start (policy type ``System``)."""

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
    return json.dumps(
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
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
    )
}
