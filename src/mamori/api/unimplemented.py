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
    # Which filter keys Alibaba accepts here is not documented; refusing is honest, and
    # the account's instances are few enough to list whole.
    (KMS_VERSION, "ListKmsInstances"): ("Filters",),
}

# (version, action, parameter) → why Mamori may accept and ignore it: pure hints with no
# security meaning. Each is declared by its action (checked by the catalogue test).
IGNORED: Final[Mapping[tuple[str, str, str], str]] = {
    **{
        (KMS_VERSION, name, "RegionId"): "The region is the server's own (configuration); the "
        "SDK sends its client's region, and resources are named in that one region."
        for name in ("TagResources", "UntagResources", "ListTagResources")
    },
    (KMS_VERSION, "SetDeletionProtection", "KmsInstanceId"): "Deletion protection of an "
    "instance is not served (ReleaseKmsInstance refuses an instance that holds anything); the "
    "key is named by KeyId or ProtectedResourceArn, one of which is required.",
    (KMS_VERSION, "ReleaseKmsInstance", "ForceDeleteWithoutBackup"): "It allows releasing an "
    "instance that was not backed up, with its keys; Mamori refuses to release an instance "
    "that holds any key or secret, whatever this says, so nothing is lost either way.",
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
