"""Identities and authorization: accounts, principals, AccessKeys, and the policy decision."""
