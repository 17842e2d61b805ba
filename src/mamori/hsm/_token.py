"""One logged-in PKCS#11 session: making, finding and destroying the keys that live in it
(AES, RSA and EC pairs, HMAC), and the probe of what it can run.

python-pkcs11 sessions are not thread-safe, and the API runs handlers on worker threads, so every
call into the token goes through one lock. A token operation takes ~20 µs on SoftHSM2; a real
HSM's latency dominates long before the lock does.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from typing import Any, Final, NoReturn

import pkcs11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from mamori.crypto.aead import DecryptionFailed
from mamori.crypto.asymmetric import PublicKey, UnsupportedKey
from mamori.crypto.specs import SPECS, Family, KeySpec, KeyUsage
from mamori.hsm._capabilities import Capabilities
from mamori.hsm._config import HsmConfig
from mamori.hsm._errors import HsmError, TokenUnavailable
from mamori.hsm._failures import GONE
from mamori.hsm._keys import TokenAead, TokenMac, TokenPrivateKey
from mamori.hsm._mechanisms import (
    CURVES,
    DECRYPT,
    HMAC,
    SIGN,
    hmac_template,
    private_template,
    public_template,
)

log = logging.getLogger("mamori.hsm")

# Generated inside the token and never leaving it: not extractable, sensitive (no CKA_VALUE
# read), persistent, private, and good only for encrypt/decrypt (no wrapping other keys out).
_AES_TEMPLATE: Final[dict[Attribute, Any]] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.MODIFIABLE: False,
    Attribute.ENCRYPT: True,
    Attribute.DECRYPT: True,
    Attribute.WRAP: False,
    Attribute.UNWRAP: False,
    Attribute.SIGN: False,
    Attribute.VERIFY: False,
    Attribute.DERIVE: False,
}


class Token:
    """A token opened with the user PIN; keys are found and made by label."""

    def __init__(self, session: Any, description: str) -> None:
        self._session = session
        self._description = description
        self._lock = threading.Lock()
        # Taken around the one-time probe, which itself takes ``_lock`` for each token call.
        self._probe_lock = threading.Lock()
        self._capabilities: Capabilities | None = None

    @classmethod
    def open(cls, config: HsmConfig) -> Token:
        """Load the module, find the token by label and log in; ``TokenUnavailable`` if any
        step fails (the message never contains the PIN)."""
        where = f"token {config.token_label!r} in {config.module}"
        if not config.module.is_file():
            raise TokenUnavailable(f"PKCS#11 module {config.module} does not exist")
        if not config.pin:
            raise TokenUnavailable(f"no PIN configured for {where} (hsm.pin or MAMORI_HSM_PIN)")
        try:
            lib = pkcs11.lib(str(config.module))
            token = lib.get_token(token_label=config.token_label)
            session = token.open(user_pin=config.pin, rw=True)
        except p11.NoSuchToken as exc:
            raise TokenUnavailable(f"no {where}") from exc
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange) as exc:
            raise TokenUnavailable(f"the PIN for {where} was refused") from exc
        except p11.PinLocked as exc:
            raise TokenUnavailable(f"the PIN for {where} is locked") from exc
        except p11.PKCS11Error as exc:
            raise TokenUnavailable(f"cannot open {where}: {type(exc).__name__}") from exc
        return cls(session, where)

    def __repr__(self) -> str:
        return f"<Token {self._description}>"

    def close(self) -> None:
        """Log out and close the session."""
        with self._lock, contextlib.suppress(p11.PKCS11Error):
            self._session.close()

    def generate_aes(self, label: str, bits: int) -> TokenAead:
        """A new non-extractable AES key of ``bits`` bits, stored in the token as ``label``."""
        with self._lock:
            try:
                key = self._session.generate_key(
                    KeyType.AES,
                    bits,
                    label=label,
                    store=True,
                    capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                    template=_AES_TEMPLATE,
                )
            except p11.PKCS11Error as exc:
                self._fail(exc, f"generate a {bits}-bit AES key")
            return TokenAead(key, self._lock, self._fail)

    def aead(self, label: str) -> TokenAead | None:
        """The AES key stored as ``label``, or None when the token has none. Callers cache the
        result (``core`` keeps it with the key version), so this searches the token each time."""
        with self._lock:
            try:
                key = self._session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label=label)
            except p11.NoSuchKey:
                return None
            except p11.PKCS11Error as exc:
                self._fail(exc, "find a key")
            return TokenAead(key, self._lock, self._fail)

    def capabilities(self) -> Capabilities:
        """What this token runs, probed on the first call and then remembered: a token's
        mechanisms do not change while Mamori has it open. While ``start_probe``'s thread is
        probing, callers wait for its answer."""
        with self._probe_lock:
            if self._capabilities is None:
                started = time.monotonic()
                self._capabilities = self._probe()
                log.info(
                    "capability probe of %s took %.2f s",
                    self._description,
                    time.monotonic() - started,
                )
            return self._capabilities

    def start_probe(self) -> threading.Thread:
        """Probe in a background thread now (0.4–1.2 s on SoftHSM2, RSA key generation
        dominating), so that no request pays for it; a request that comes first waits on the
        probe lock rather than probing twice. Call it where the session will be used (in each
        worker, after the fork): a probe must not hold the lock across a fork."""
        thread = threading.Thread(target=self._probe_quietly, name="mamori-hsm-probe", daemon=True)
        thread.start()
        return thread

    def _probe_quietly(self) -> None:
        try:
            self.capabilities()
        except HsmError as exc:
            # Not fatal here: the first request that needs the answer probes again and fails
            # with the token's error then.
            log.warning("the capability probe of %s failed: %s", self._description, exc)

    def generate_pair(self, label: str, spec: KeySpec, *usages: KeyUsage) -> None:
        """A new non-extractable RSA or EC key pair for ``usages`` (a KMS key has one; a
        certificate's RSA key signs and decrypts), both halves stored in the token as
        ``label``."""
        sign = KeyUsage.SIGN_VERIFY in usages
        decrypt = KeyUsage.ENCRYPT_DECRYPT in usages and bool(spec.encryption)
        self._pair(label, spec, sign=sign, decrypt=decrypt, store=True)

    def generate_hmac(self, label: str, spec: KeySpec) -> None:
        """A new non-extractable HMAC key of ``spec`` (a generic secret as long as the hash's
        output, as software HMAC keys are), stored in the token as ``label``."""
        with self._lock:
            try:
                self._session.generate_key(
                    KeyType.GENERIC_SECRET,
                    spec.material_bytes * 8,
                    id=label.encode(),
                    label=label,
                    store=True,
                    template=hmac_template(),
                )
            except p11.PKCS11Error as exc:
                self._fail(exc, f"generate an {spec.name} key")

    def private_key(self, label: str, spec: KeySpec, *usages: KeyUsage) -> TokenPrivateKey | None:
        """The key pair stored as ``label`` for ``usages``, or None when the token has none."""
        found = self.capabilities()
        offered = frozenset().union(*(found.algorithms(spec, usage) for usage in usages))
        with self._lock:
            try:
                private = self._session.get_key(ObjectClass.PRIVATE_KEY, label=label)
                public = self._session.get_key(ObjectClass.PUBLIC_KEY, label=label)
                der = _public_der(spec, public)
            except p11.NoSuchKey:
                return None
            except p11.PKCS11Error as exc:
                self._fail(exc, "find a key pair")
        return TokenPrivateKey(spec, private, _public(spec, der), offered, self._lock, self._fail)

    def mac(self, label: str, spec: KeySpec) -> TokenMac | None:
        """The HMAC key stored as ``label``, or None when the token has none."""
        with self._lock:
            try:
                key = self._session.get_key(
                    ObjectClass.SECRET_KEY, KeyType.GENERIC_SECRET, label=label
                )
            except p11.NoSuchKey:
                return None
            except p11.PKCS11Error as exc:
                self._fail(exc, "find a key")
        return TokenMac(spec.mac[0], key, self._lock, self._fail)

    def destroy(self, label: str) -> None:
        """Delete every object labelled ``label`` from the token (absent: nothing to do)."""
        with self._lock:
            try:
                for obj in list(self._session.get_objects({Attribute.LABEL: label})):
                    obj.destroy()
            except p11.PKCS11Error as exc:
                self._fail(exc, "destroy a key")

    def _pair(
        self, label: str, spec: KeySpec, *, sign: bool, decrypt: bool, store: bool
    ) -> tuple[Any, Any]:
        """(public, private) objects of a new key pair; ``store=False`` makes session objects,
        gone with the session (the probe's)."""
        templates = {
            "public_template": public_template(sign=sign, decrypt=decrypt, store=store),
            "private_template": private_template(sign=sign, decrypt=decrypt, store=store),
        }
        with self._lock:
            try:
                if spec.family is Family.RSA:
                    pair = self._session.generate_keypair(
                        KeyType.RSA,
                        spec.rsa_bits,
                        id=label.encode(),
                        label=label,
                        store=store,
                        **templates,
                    )
                else:
                    curve = encode_named_curve_parameters(CURVES[spec.name])
                    params = self._session.create_domain_parameters(
                        KeyType.EC, {Attribute.EC_PARAMS: curve}, local=True
                    )
                    pair = params.generate_keypair(
                        id=label.encode(), label=label, store=store, **templates
                    )
            except p11.PKCS11Error as exc:
                self._fail(exc, f"generate an {spec.name} key pair")
        return pair[0], pair[1]

    def _probe(self) -> Capabilities:
        with self._lock:
            try:
                slot = self._session.token.slot
                mechanisms = set(slot.get_mechanisms())
                rsa_bits = None
                if Mechanism.RSA_PKCS_KEY_PAIR_GEN in mechanisms:
                    info = slot.get_mechanism_info(Mechanism.RSA_PKCS_KEY_PAIR_GEN)
                    rsa_bits = (int(info.min_key_length), int(info.max_key_length))
            except p11.PKCS11Error as exc:
                self._fail(exc, "list its mechanisms")
        rsa_algorithms: frozenset[str] = frozenset()
        if rsa_bits is not None and rsa_bits[0] <= _PROBE_RSA.rsa_bits <= rsa_bits[1]:
            rsa_algorithms = self._try(_PROBE_RSA, mechanisms)
        curves = frozenset(
            name
            for name in CURVES
            if Mechanism.EC_KEY_PAIR_GEN in mechanisms and self._try(SPECS[name], mechanisms)
        )
        hmac = frozenset(
            name
            for name, mechanism in HMAC.items()
            if mechanism in mechanisms and Mechanism.GENERIC_SECRET_KEY_GEN in mechanisms
        )
        return Capabilities(rsa_bits, rsa_algorithms, curves, hmac)

    def _try(self, spec: KeySpec, mechanisms: set[Mechanism]) -> frozenset[str]:
        """The algorithms of ``spec`` that work on a session key pair made for the purpose."""
        listed = [a for a in (*spec.signing, *spec.encryption) if _MECHANISMS[a][0] in mechanisms]
        if not listed:
            return frozenset()
        try:
            public, private = self._pair(
                _PROBE_LABEL,
                spec,
                sign=bool(spec.signing),
                decrypt=bool(spec.encryption),
                store=False,
            )
        except TokenUnavailable:
            raise
        except HsmError:
            return frozenset()  # for example a curve the token does not know
        try:
            with self._lock:
                der = _public_der(spec, public)
            key = TokenPrivateKey(
                spec, private, _public(spec, der), frozenset(listed), self._lock, self._fail
            )
            return frozenset(a for a in listed if _works(key, a))
        finally:
            with self._lock, contextlib.suppress(p11.PKCS11Error):
                private.destroy()
                public.destroy()

    def _fail(self, exc: p11.PKCS11Error, doing: str) -> NoReturn:
        if isinstance(exc, GONE):
            raise TokenUnavailable(f"{self._description} is unavailable") from exc
        raise HsmError(f"{self._description} could not {doing}: {type(exc).__name__}") from exc


_PROBE_RSA: Final = SPECS["RSA_2048"]
_PROBE_LABEL: Final = "mamori/probe"
_PROBE_DATA: Final = b"mamori capability probe"
_MECHANISMS: Final = {**SIGN, **DECRYPT}
_DER: Final = serialization.Encoding.DER
_SPKI: Final = serialization.PublicFormat.SubjectPublicKeyInfo


def _public_der(spec: KeySpec, public: Any) -> bytes:
    """SubjectPublicKeyInfo DER of a token public key object (call with the lock held)."""
    if spec.family is Family.RSA:
        numbers = rsa.RSAPublicNumbers(
            int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
            int.from_bytes(public[Attribute.MODULUS], "big"),
        )
        return numbers.public_key().public_bytes(_DER, _SPKI)
    return bytes(encode_ec_public_key(public))


def _public(spec: KeySpec, der: bytes) -> PublicKey:
    try:
        return PublicKey(spec, der)
    except UnsupportedKey as exc:
        raise HsmError(f"the token's public key is not an {spec.name} key") from exc


def _works(key: TokenPrivateKey, algorithm: str) -> bool:
    """Whether ``algorithm`` runs on the token and agrees with ``cryptography``."""
    try:
        if algorithm in SIGN:
            digest = hashlib.sha256(_PROBE_DATA).digest()
            return key.public.verify(algorithm, digest, key.sign(algorithm, digest))
        ciphertext = key.public.encrypt(algorithm, _PROBE_DATA)
        return key.decrypt(algorithm, ciphertext) == _PROBE_DATA
    except TokenUnavailable:
        raise
    except (HsmError, DecryptionFailed):
        return False
