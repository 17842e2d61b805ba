"""The dedicated gateway: the KMS instance API (protobuf over TLS, client-key signatures)."""
