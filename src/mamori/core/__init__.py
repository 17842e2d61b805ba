"""The domain: keys, aliases, tags, cryptographic operations and the background jobs."""
