"""KMS actions (API 2016-01-20): keys, aliases, tags, key policies, import and cryptography."""
