"""Mamori: a self-hosted key management service that speaks the Alibaba Cloud KMS API."""

__version__ = "0.1.0"
