"""Application access points (KMS API 2016-01-20): AAPs, their policies, network rules and
client keys, managed on the shared gateway; the dedicated gateway asks ``iam`` for the
decision they make (``mamori.iam.client_key_authority``)."""
