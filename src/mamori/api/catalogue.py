"""The catalogue: one ``Action`` per API action. Gateways dispatch through it; authorization,
the CLI and the docs read it; nothing else lists actions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mamori.api.params import Int, Param, Raw
from mamori.core.aliases import AliasService
from mamori.core.asymmetric_ops import AsymmetricService
from mamori.core.certificates import CertificateService
from mamori.core.challenges import Challenges
from mamori.core.crypto_ops import CryptoService
from mamori.core.instance_crypto import InstanceCrypto
from mamori.core.instances import InstanceService
from mamori.core.key_import import KeyImport
from mamori.core.keys import KeyService
from mamori.core.managed_data_keys import ManagedDataKeys
from mamori.core.refs import Scope
from mamori.core.secrets import SecretService
from mamori.iam.aap_services import AapServices
from mamori.iam.access_keys import AccessKeyService
from mamori.iam.accounts import AccountService
from mamori.iam.authorize import Authorizer, Origin
from mamori.iam.directory import Directory
from mamori.iam.key_policies import KeyPolicies
from mamori.iam.policies import Policies
from mamori.iam.principal import Principal
from mamori.iam.roles import Roles
from mamori.iam.secret_policies import SecretPolicies
from mamori.iam.sts import TokenService
from mamori.store.database import Database

KMS_VERSION = "2016-01-20"
RAM_VERSION = "2015-05-01"
STS_VERSION = "2015-04-01"

Args = dict[str, Any]
Result = dict[str, Any]


class Services(Protocol):
    """What handlers may reach; ``app.py`` provides the implementation."""

    @property
    def keys(self) -> KeyService:
        """The key service."""
        ...

    @property
    def aliases(self) -> AliasService:
        """The alias service."""
        ...

    @property
    def crypto(self) -> CryptoService:
        """The symmetric crypto service."""
        ...

    @property
    def asymmetric(self) -> AsymmetricService:
        """The asymmetric and HMAC crypto service."""
        ...

    @property
    def certificates(self) -> CertificateService:
        """Certificates and their key pairs."""
        ...

    @property
    def managed_data_keys(self) -> ManagedDataKeys:
        """Managed data keys."""
        ...

    @property
    def challenges(self) -> Challenges:
        """GetChallenge's tokens."""
        ...

    @property
    def instance_crypto(self) -> InstanceCrypto:
        """The instance API's crypto semantics (AdvanceEncrypt on the shared gateway too)."""
        ...

    @property
    def key_import(self) -> KeyImport:
        """Key material import (Origin=EXTERNAL)."""
        ...

    @property
    def secrets(self) -> SecretService:
        """The secret service."""
        ...

    @property
    def instances(self) -> InstanceService:
        """KMS instances."""
        ...

    @property
    def accounts(self) -> AccountService:
        """The account service."""
        ...

    @property
    def db(self) -> Database:
        """The store, for tag listings that span resource types."""
        ...

    @property
    def authorizer(self) -> Authorizer:
        """The policy decision point."""
        ...

    @property
    def access_keys(self) -> AccessKeyService:
        """AccessKeys."""
        ...

    @property
    def directory(self) -> Directory:
        """RAM users and memberships."""
        ...

    @property
    def roles(self) -> Roles:
        """RAM roles."""
        ...

    @property
    def policies(self) -> Policies:
        """RAM policies, versions and attachments."""
        ...

    @property
    def key_policies(self) -> KeyPolicies:
        """Key policies."""
        ...

    @property
    def secret_policies(self) -> SecretPolicies:
        """Secret policies."""
        ...

    @property
    def tokens(self) -> TokenService:
        """STS temporary credentials."""
        ...

    @property
    def aap(self) -> AapServices:
        """Application access points, their policies, network rules and client keys."""
        ...


@dataclass(frozen=True, slots=True)
class Call:
    """One authorized invocation: who, where, with which services."""

    principal: Principal
    scope: Scope
    services: Services
    dry_run: bool = False
    # Where the request came from: handlers that authorize per item (BatchGetSecretValue) need it.
    origin: Origin = field(default_factory=Origin)


@dataclass(frozen=True, slots=True)
class Touch:
    """One resource an action touches, as the gateway authorizes it: ``ram_action`` (the
    action's own when empty) on ``arn``, with ``context`` as kms:EncryptionContext. ``named`` is
    how the request named it, for the refusal (which never names a key the caller did not
    name). With ``deny_only`` only an explicit Deny refuses: a secret's encryption key, which
    secret actions use without an Allow on it."""

    arn: str
    named: str
    ram_action: str = ""
    context: Mapping[str, str] | None = None
    deny_only: bool = False


Handler = Callable[[Call, Args], Result]
ResourceOf = Callable[["Services", Scope, Args], str]
ResourcesOf = Callable[["Services", Scope, Args], Iterable[Touch]]


def account_resource(_services: Services, scope: Scope, _args: Args) -> str:
    """Actions that act on the account as a whole authorize against ``acs:kms:{r}:{a}:*``."""
    return f"acs:kms:{scope.region}:{scope.account_id}:*"


@dataclass(frozen=True, slots=True)
class Action:
    """One API action: its parameters, RAM action, resource, handler and how it runs."""

    name: str
    params: tuple[Param, ...]
    handler: Handler
    resource: ResourceOf = account_resource
    business: bool = False
    # Inline actions run on the event loop: they touch only in-memory caches on the hot path.
    inline: bool = False
    version: str = KMS_VERSION
    methods: frozenset[str] = field(default_factory=lambda: frozenset({"POST", "GET"}))
    service: str = "kms"
    # False only for actions any authenticated caller may use (GetCallerIdentity), or whose
    # handler authorizes the resource it resolves (RAM AccessKey actions acting on the caller).
    authorize: bool = True
    # An action that touches more than its one resource (an alias and its keys, ReEncrypt's
    # two keys and contexts, each resource of a batch, a secret and its key) declares every
    # resource here instead, and the gateway authorizes each before the handler runs.
    # Otherwise it is the action's RAM action on ``resource``, with the EncryptionContext.
    resources: ResourcesOf | None = None
    # True for an action Mamori adds to an Alibaba API version (CreateKmsInstance: Alibaba's
    # instances are purchased, not created by an API call); the docs mark it so.
    extension: bool = False
    # True only for an action whose whole effect is its response: it reads, or computes with
    # keys (Encrypt, Sign, GenerateDataKey), and changes nothing stored. Every other action gets
    # a durable intent record before its handler runs (docs/audit.md), so the default, False,
    # is the safe one: an action nobody classified can never act unrecorded.
    read_only: bool = False

    @property
    def ram_action(self) -> str:
        """The RAM action name policies refer to, e.g. ``kms:Encrypt`` or ``ram:CreateUser``."""
        return f"{self.service}:{self.name}"

    def parse(self, raw: Raw) -> Args:
        """Every declared parameter, typed; the first bad one raises its documented error."""
        return {p.name: p.read(raw) for p in self.params}


class Catalogue:
    """All actions by (version, name)."""

    def __init__(self) -> None:
        self._actions: dict[tuple[str, str], Action] = {}

    def add(self, *actions: Action) -> None:
        """Register actions; a duplicate name is a programming error."""
        for action in actions:
            key = (action.version, action.name)
            if key in self._actions:
                raise ValueError(f"action {action.name} declared twice")
            self._actions[key] = action

    def get(self, version: str, name: str) -> Action | None:
        """The action, or None."""
        return self._actions.get((version, name))

    def versions(self) -> frozenset[str]:
        """API versions served."""
        return frozenset(v for v, _ in self._actions)

    def all(self) -> list[Action]:
        """Every action, sorted by name."""
        return sorted(self._actions.values(), key=lambda a: (a.version, a.name))


# The KMS API's numbered paging; RAM pages by Marker/MaxItems instead (api/ram/common.py).
PAGE_NUMBER = Int("PageNumber", low=1, high=100_000)
PAGE_SIZE = Int("PageSize", low=1, high=100)


def paging(args: Mapping[str, Any], default_size: int = 10) -> tuple[int, int, int, int]:
    """(page number, page size, offset, limit) from PageNumber/PageSize."""
    number = args.get("PageNumber") or 1
    size = args.get("PageSize") or default_size
    return number, size, (number - 1) * size, size
