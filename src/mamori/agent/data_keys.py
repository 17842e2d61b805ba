"""Data keys for the agent's envelope endpoints, shared by every process that calls it.

Encryption takes a data key from ``GenerateDataKey`` per (KeyId, EncryptionContext) and reuses
it until one of its key's limits is reached — age (``MaxAgeSeconds``), messages
(``MaxMessages``) or bytes (``MaxBytes``) — the limits of the AWS Encryption SDK's caching
materials manager. Decryption asks ``Decrypt`` once per wrapped data key and keeps the
plaintext key for the owning key's ``MaxAgeSeconds``. The two caches are separate on purpose: a
data key made for encryption never serves a decryption, so a caller allowed
``kms:GenerateDataKey`` but not ``kms:Decrypt`` cannot decrypt through the agent.

Decryption opens only envelopes whose data key was wrapped by a configured key: the key is
known from ``Decrypt``'s answer (a wrapped key names only a key version), and configured
aliases and alias ARNs are resolved to key ids with ``DescribeKey`` on first need, and again
when an envelope's key is not among them (an alias may have been pointed elsewhere); any other
key's envelope is ``KeyNotEnabled`` and its data key is dropped, never cached.

Keys live only in memory, as ``AESGCM`` objects, in bounded LRU maps.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mamori.agent.config import EnvelopeKey
from mamori.agent.single_flight import SingleFlight
from mamori.agent.upstream import Upstream, UpstreamError
from mamori.crypto import envelope as fmt


@dataclass(slots=True)
class _EncryptionKey:
    aes: AESGCM
    head: bytes
    created: float
    messages: int = 0
    bytes: int = 0


@dataclass(slots=True)
class _DecryptionKey:
    aes: AESGCM
    created: float
    max_age: float  # the owning key's MaxAgeSeconds


class KeyNotEnabled(Exception):
    """The envelope's data key was wrapped by a key that is not in ``[[Envelope.Keys]]``."""


@dataclass(slots=True)
class EnvelopeCounters:
    """What the envelope endpoints did since start (``GET /mamori/stats``)."""

    encrypts: int = 0
    decrypts: int = 0
    generate_data_key_calls: int = 0
    decrypt_calls: int = 0
    encrypt_key_reuses: int = 0
    decrypt_key_reuses: int = 0
    data_keys_retired: int = 0


class DataKeys:
    """The encryption and decryption data-key caches in front of ``upstream``."""

    def __init__(
        self,
        upstream: Upstream,
        *,
        keys: tuple[EnvelopeKey, ...],
        size: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._upstream = upstream
        self._size = size
        self._clock = clock
        # Configured keys by key id (plain ids and key ARNs at once; aliases once resolved),
        # and the aliases to resolve, with their limits.
        self._by_id: dict[str, EnvelopeKey] = {}
        self._aliases: list[EnvelopeKey] = []
        for key in keys:
            key_id = _plain_key_id(key.key_id)
            if key_id is None:
                self._aliases.append(key)
            else:
                self._by_id.setdefault(key_id, key)
        self._resolve_once: SingleFlight[str, None] = SingleFlight()
        self._encrypting: OrderedDict[tuple[str, bytes], _EncryptionKey] = OrderedDict()
        self._decrypting: OrderedDict[tuple[bytes, bytes], _DecryptionKey] = OrderedDict()
        self._generate_once: SingleFlight[tuple[str, bytes], None] = SingleFlight()
        self._decrypt_once: SingleFlight[tuple[bytes, bytes], _DecryptionKey] = SingleFlight()
        self.counters = EnvelopeCounters()

    async def encrypt(self, key: EnvelopeKey, context: bytes, plaintext: bytes) -> bytes:
        """An envelope of ``plaintext`` under a cached (or new) data key of ``key``."""
        self.counters.encrypts += 1
        size = len(plaintext)
        if size > key.max_bytes:
            # One message alone is past the byte limit: a data key of its own, never cached.
            single = await self._generate(key, context)
            return fmt.seal(single.aes, single.head, plaintext)
        slot = (key.key_id, context)
        fresh = False
        entry = self._encrypting.get(slot)
        while entry is None or not self._usable(entry, key, size):
            if entry is not None:
                del self._encrypting[slot]
                self.counters.data_keys_retired += 1
            await self._generate_once.run(slot, lambda: self._refill(slot, key, context))
            fresh = True
            entry = self._encrypting.get(slot)
        # Counted before sealing, with no await in between: concurrent encrypts never take a
        # key past its limits.
        entry.messages += 1
        entry.bytes += size
        self._encrypting.move_to_end(slot)
        if not fresh:
            self.counters.encrypt_key_reuses += 1
        return fmt.seal(entry.aes, entry.head, plaintext)

    def _usable(self, entry: _EncryptionKey, key: EnvelopeKey, size: int) -> bool:
        return (
            self._clock() - entry.created < key.max_age_seconds
            and entry.messages < key.max_messages
            and entry.bytes + size <= key.max_bytes
        )

    async def _refill(self, slot: tuple[str, bytes], key: EnvelopeKey, context: bytes) -> None:
        self._encrypting[slot] = await self._generate(key, context)
        while len(self._encrypting) > self._size:
            self._encrypting.popitem(last=False)

    async def _generate(self, key: EnvelopeKey, context: bytes) -> _EncryptionKey:
        self.counters.generate_data_key_calls += 1
        plain, wrapped = await self._upstream.generate_data_key(
            key.key_id, context.decode("utf-8") or None
        )
        return _EncryptionKey(AESGCM(plain), fmt.header(context, wrapped), self._clock())

    async def decrypt(self, blob: bytes, context: bytes) -> bytes:
        """The plaintext of an envelope sealed with ``context`` (canonical JSON); raises
        ``MalformedEnvelope`` or ``DecryptionFailed``."""
        self.counters.decrypts += 1
        parsed = fmt.parse(blob)
        if parsed.context_bytes != context:
            raise fmt.DecryptionFailed
        slot = (parsed.wrapped_key, parsed.context_bytes)
        entry = self._decrypting.get(slot)
        if entry is not None and self._clock() - entry.created < entry.max_age:
            self._decrypting.move_to_end(slot)
            self.counters.decrypt_key_reuses += 1
        else:
            entry = await self._decrypt_once.run(slot, lambda: self._unwrap(slot))
        return fmt.open_envelope(entry.aes, parsed)

    async def _unwrap(self, slot: tuple[bytes, bytes]) -> _DecryptionKey:
        self.counters.decrypt_calls += 1
        wrapped, context = slot
        plain, key_id = await self._upstream.decrypt_data_key(
            wrapped, context.decode("utf-8") or None
        )
        key = await self._configured(key_id)
        if key is None:
            raise KeyNotEnabled
        if len(plain) != fmt.DATA_KEY_BYTES:
            raise fmt.DecryptionFailed
        entry = _DecryptionKey(AESGCM(plain), self._clock(), key.max_age_seconds)
        self._decrypting[slot] = entry
        while len(self._decrypting) > self._size:
            self._decrypting.popitem(last=False)
        return entry

    async def _configured(self, key_id: str) -> EnvelopeKey | None:
        """The configured key (with its limits) whose id is ``key_id``, resolving the
        configured aliases when it is not known yet."""
        key = self._by_id.get(key_id)
        if key is None and self._aliases:
            await self._resolve_once.run("aliases", self._resolve_aliases)
            key = self._by_id.get(key_id)
        return key

    async def _resolve_aliases(self) -> None:
        for alias in self._aliases:
            try:
                target = await self._upstream.key_id_of(alias.key_id)
            except UpstreamError:
                continue  # deleted or not describable: it opens nothing
            self._by_id.setdefault(target, alias)

    def sizes(self) -> tuple[int, int]:
        """How many data keys are cached for encryption and for decryption."""
        return len(self._encrypting), len(self._decrypting)

    def clear(self) -> None:
        """Forget every data key (at shutdown)."""
        self._encrypting.clear()
        self._decrypting.clear()


def _plain_key_id(configured: str) -> str | None:
    """The key id a configured ``KeyId`` names by itself (a key id, or a key's ARN); None for
    an alias or an alias ARN, which only the server can resolve."""
    if configured.startswith("acs:"):
        resource = configured.split(":", 4)[-1]
        return resource[4:] if resource.startswith("key/") else None
    return None if configured.startswith("alias/") else configured
