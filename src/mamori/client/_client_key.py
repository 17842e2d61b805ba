"""Client keys for the dedicated gateway, read the way the official instance SDKs read them.

The key file is the ClientKeyContent JSON Alibaba (and Mamori's ``CreateClientKey``) hands over,
``{"KeyId": "KAAP.<uuid>", "PrivateKeyData": "<base64 PKCS#12>"}``, usually saved as
``clientKey_KAAP.<uuid>.json``; the PKCS#12's password is kept apart. Its sources are those of
the official Secrets Manager client's ``cache_client_dkms_config_info``: an environment
variable named by ``passwordFromEnvVariable`` first, then the file ``passwordFromFilePath``
(read whole, line breaks and surrounding blanks dropped, as that client does).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Mapping
from email.utils import formatdate
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mamori.crypto.client_key import LoadedClientKey, MalformedClientKey, load_client_key_content
from mamori.wire.instance import (
    API_VERSION,
    CLIENT_KEY_ID_HEADER,
    CONTENT_TYPE,
    SIGNATURE_METHOD,
    SIGNED_PREFIX,
    string_to_sign,
)

# A ClientKeyContent is about 3.5 KiB; anything far larger is not one.
MAX_KEY_FILE_BYTES: Final = 64 * 1024
MAX_PASSWORD_BYTES: Final = 1024
USER_AGENT: Final = "mamori-client"


class ClientKeyError(Exception):
    """A client key or its password cannot be used (the message says why, never the password)."""


def client_key_password(
    *,
    env_variable: str = "",
    file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The client key's password: the environment variable named ``env_variable`` when it is
    set and not empty, else the content of ``file``."""
    env = os.environ if environ is None else environ
    if env_variable and env.get(env_variable):
        return env[env_variable]
    if file is not None:
        try:
            info = file.stat()
            if info.st_mode & stat.S_IRWXO:
                raise ClientKeyError(
                    f"the password file {file} is accessible to other users; "
                    "make it readable by its owner (and group) only"
                )
            if info.st_size > MAX_PASSWORD_BYTES:
                raise ClientKeyError(f"the password file {file} is too large to hold a password")
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ClientKeyError(f"cannot read the password file {file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ClientKeyError(f"the password file {file} is not UTF-8 text") from None
        password = text.strip().replace("\n", "").replace("\r", "")
        if password:
            return password
        raise ClientKeyError(f"the password file {file} is empty")
    where = f"the environment variable {env_variable}" if env_variable else "no password source"
    raise ClientKeyError(f"no client key password: {where} is unset or empty")


def load_client_key(path: Path, password: str) -> LoadedClientKey:
    """Open the ClientKeyContent file at ``path`` with ``password``; ``ClientKeyError`` when
    it cannot be read, is not a ClientKeyContent, or the password does not open it."""
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise ClientKeyError(f"the client key file {path} is too large to be a client key")
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ClientKeyError(f"cannot read the client key file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ClientKeyError(f"the client key file {path} is not a ClientKeyContent") from None
    try:
        return load_client_key_content(content, password)
    except MalformedClientKey:
        raise ClientKeyError(
            f"the client key file {path} is not a ClientKeyContent this password opens"
        ) from None


def signed_headers(
    host: str,
    api_name: str,
    body: bytes,
    key_id: str,
    private_key: rsa.RSAPrivateKey,
    *,
    extra: Mapping[str, str] | None = None,
    now: float | None = None,
) -> dict[str, str]:
    """The headers of one instance API request, signed as ``alibabacloud-dkms-gcs`` signs them
    (``mamori.wire.instance``): a fresh date each call; ``extra`` headers named ``x-kms-*`` are
    signed too (as the transfer clients' ``x-kms-migrationkeyversionid`` is)."""
    headers = {k.lower(): v for k, v in (extra or {}).items()}
    headers.update(
        {
            "accept": CONTENT_TYPE,
            "host": host,
            "date": formatdate(now, usegmt=True),
            "user-agent": USER_AGENT,
            "x-kms-apiversion": API_VERSION,
            "x-kms-apiname": api_name,
            "x-kms-signaturemethod": SIGNATURE_METHOD,
            CLIENT_KEY_ID_HEADER: key_id,
            "content-type": CONTENT_TYPE,
            "content-sha256": hashlib.sha256(body).hexdigest().upper(),
        }
    )
    to_sign = string_to_sign(
        "POST",
        headers["content-sha256"],
        headers["content-type"],
        headers["date"],
        ((k, v) for k, v in headers.items() if k.startswith(SIGNED_PREFIX)),
    )
    signature = private_key.sign(to_sign.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    headers["authorization"] = "Bearer " + base64.b64encode(signature).decode("ascii")
    return headers
