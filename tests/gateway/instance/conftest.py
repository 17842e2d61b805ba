from tests.gateway.instance.dkms import dkms_python

__all__ = ["dkms_python"]
