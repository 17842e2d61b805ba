"""The full catalogue, assembled from each product's action families."""

from __future__ import annotations

from functools import cache

from mamori.api.aap import access_points, client_keys, network_rules
from mamori.api.aap import policies as aap_policies
from mamori.api.catalogue import Catalogue
from mamori.api.instances import actions as instances
from mamori.api.instances import extensions as instance_extensions
from mamori.api.kms import (
    account,
    aliases,
    asymmetric,
    certificates,
    crypto,
    data_key_export,
    key_import,
    key_policies,
    keys,
    managed_data_keys,
    tags,
)
from mamori.api.ram import identities, policies
from mamori.api.secrets import batch, passwords, values
from mamori.api.secrets import policies as secret_policies
from mamori.api.sts import actions as sts


@cache
def catalogue() -> Catalogue:
    """Every action Mamori serves."""
    result = Catalogue()
    for family in (
        keys,
        key_import,
        key_policies,
        aliases,
        tags,
        crypto,
        asymmetric,
        certificates,
        managed_data_keys,
        data_key_export,
        values,
        batch,
        secret_policies,
        account,
        instances,
        instance_extensions,
        passwords,
        identities,
        policies,
        sts,
        network_rules,
        aap_policies,
        access_points,
        client_keys,
    ):
        result.add(*family.ACTIONS)
    return result
