"""A real Mamori server for the tests of applications that use Alibaba Cloud KMS — the moto of
Alibaba KMS (docs/testing.md). ``pip install mamori`` registers the pytest plugin
(``mamori.testing.plugin``): the fixtures ``mamori_server``, ``mamori_credentials`` and
``kms_client`` are then available in every test, with no conftest.

Outside pytest, ``start_server(directory)`` gives the same server as a context manager.
"""

from mamori.testing._server import MamoriCredentials, MamoriServer, start_server

__all__ = ["MamoriCredentials", "MamoriServer", "start_server"]
