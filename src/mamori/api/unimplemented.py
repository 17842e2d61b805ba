"""Documented parameters Mamori does not implement: refused, never silently dropped (DESIGN §7).

Every request parameter the official SDKs send for a served KMS action
(``spec/kms-api-actions.json``) is either declared by the action in the catalogue, and then
acted upon or listed in ``IGNORED`` with the reason that is safe, or listed in ``REFUSED``:
a request carrying it is answered ``Rejected.UnsupportedOperation`` naming the parameter, before
anything else is read (as ``DryRun``, that is ``ValidationError``). ``tests/api/test_catalogue.py``
checks the three against the spec; ``docs/actions.md`` lists them. An empty value counts as
absent, as it does for every parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from mamori.api.catalogue import KMS_VERSION, Action
from mamori.api.errors import ApiError

# (version, action) → wire names of documented parameters Mamori refuses.
REFUSED: Final[Mapping[tuple[str, str], tuple[str, ...]]] = {
    # Enclave attestation: the answer would have to be sealed to the enclave's key
    # (CiphertextForRecipient); answering in the clear would hand the secret to the caller.
    **{
        (KMS_VERSION, name): ("Recipient",)
        for name in ("Decrypt", "GenerateDataKey", "AsymmetricDecrypt", "GetSecretValue")
    },
    # HsmInternal/HsmEncryptedDatabase name where a dedicated KMS instance keeps a key; Mamori's
    # storage follows ProtectionLevel (HSM keys never leave the token), so accepting the
    # parameter would silently give another storage than the one asked for.
    (KMS_VERSION, "CreateKey"): ("KeyStorageMechanism",),
}

# (version, action, parameter) → why Mamori may accept and ignore it: pure hints with no
# security meaning. Each is declared by its action (checked by the catalogue test).
IGNORED: Final[Mapping[tuple[str, str, str], str]] = {
    **{
        (KMS_VERSION, name, "RegionId"): "The region is the server's own (configuration); the "
        "SDK sends its client's region, and resources are named in that one region."
        for name in ("TagResources", "UntagResources", "ListTagResources")
    },
    (KMS_VERSION, "CreateSecret", "DKMSInstanceId"): "Mamori is one KMS instance: every secret "
    "is stored alike, sealed under its EncryptionKeyId, and the answer's DKMSInstanceId is "
    "empty, which says so.",
    (KMS_VERSION, "SetDeletionProtection", "KmsInstanceId"): "Mamori has no KMS instances to "
    "protect; the key is named by KeyId or ProtectedResourceArn (one of them is required).",
}


def refuse_unimplemented(action: Action, raw: Mapping[str, str]) -> None:
    """Raise ``Rejected.UnsupportedOperation`` if the request carries a parameter of
    ``REFUSED``; one dictionary lookup for the actions that have none."""
    for name in REFUSED.get((action.version, action.name), ()):
        if raw.get(name):
            raise ApiError(
                "Rejected.UnsupportedOperation",
                reason=f"Mamori does not implement the parameter {name} of {action.name}.",
            )
