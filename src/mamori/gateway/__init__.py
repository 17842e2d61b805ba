"""Transports: the shared gateway, the dedicated gateway, and their HTTP and TLS plumbing."""
