"""Secrets actions of the KMS API (2016-01-20): secrets, their values and policies, and random
passwords."""
