"""The full catalogue, assembled from each action family."""

from __future__ import annotations

from functools import cache

from mamori.api import (
    account_actions,
    alias_actions,
    asymmetric_actions,
    crypto_actions,
    data_key_export_actions,
    key_actions,
    key_policy_actions,
    password_actions,
    ram_identity_actions,
    ram_policy_actions,
    secret_actions,
    secret_batch_actions,
    secret_policy_actions,
    sts_actions,
    tag_actions,
)
from mamori.api.catalogue import Catalogue


@cache
def catalogue() -> Catalogue:
    """Every action Mamori serves."""
    result = Catalogue()
    for family in (
        key_actions,
        key_policy_actions,
        alias_actions,
        tag_actions,
        crypto_actions,
        asymmetric_actions,
        data_key_export_actions,
        secret_actions,
        secret_batch_actions,
        secret_policy_actions,
        account_actions,
        password_actions,
        ram_identity_actions,
        ram_policy_actions,
        sts_actions,
    ):
        result.add(*family.ACTIONS)
    return result
