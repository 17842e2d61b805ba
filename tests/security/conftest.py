"""The security tests attack the same shared servers as the compatibility tests, with the same
official clients."""

from tests.compat.conftest import kms, old, ram

__all__ = ["kms", "old", "ram"]
