"""The error table: every wire error Mamori can answer with, in one place.

Each row is (code, HTTP status, message template). Gateways render an ``ApiError`` through this
table; lower layers raise domain exceptions that ``api`` maps onto these rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One documented error: its code, HTTP status and message template."""

    code: str
    status: int
    template: str


_ROWS: Final[tuple[ErrorSpec, ...]] = (
    # Gateway: authentication and request shape.
    ErrorSpec(
        "SignatureDoesNotMatch",
        400,
        # The old SDK splits this message on ':' and compares the tail with its own
        # string-to-sign, so the colon and the tail are part of the contract.
        "Specified signature is not matched with our calculation. "
        "server string to sign is:{string_to_sign}",
    ),
    ErrorSpec(
        "IncompleteSignature",
        400,
        "The request signature does not conform to Aliyun standards. {detail}",
    ),
    ErrorSpec("InvalidTimeStamp.Expired", 400, "Specified time stamp or date value is expired."),
    ErrorSpec(
        "InvalidTimeStamp.Format", 400, "Specified time stamp or date value is not well formatted."
    ),
    ErrorSpec("SignatureNonceUsed", 400, "Specified signature nonce was used already."),
    ErrorSpec("MissingSignatureNonce", 400, "SignatureNonce is mandatory for this action."),
    ErrorSpec("InvalidAccessKeyId.NotFound", 404, "Specified access key is not found."),
    ErrorSpec("InvalidAccessKeyId.Inactive", 400, "Specified access key is disabled."),
    ErrorSpec("MissingSecurityToken", 400, "SecurityToken is mandatory for this action."),
    ErrorSpec("InvalidSecurityToken.Expired", 400, "Specified SecurityToken is expired."),
    ErrorSpec("InvalidSecurityToken.Malformed", 400, "Specified SecurityToken is malformed."),
    ErrorSpec("InvalidVersion", 400, "Specified parameter Version is not valid."),
    ErrorSpec("MissingAction", 400, "Action is mandatory for this request."),
    ErrorSpec(
        "InvalidAction.NotFound",
        404,
        "Specified api is not found, please check your url and method.",
    ),
    ErrorSpec("UnsupportedHTTPMethod", 403, "This http method is not supported."),
    ErrorSpec("RequestTimeout", 408, "The request was not received within {seconds} seconds."),
    ErrorSpec("RequestTooLarge", 413, "The request body is larger than {limit} bytes."),
    ErrorSpec(
        "RequestHeaderFieldsTooLarge",
        431,
        "The request line and headers exceed {limit} bytes or {count} header fields.",
    ),
    # Parameters.
    ErrorSpec("MissingParameter", 400, 'The parameter "{name}" is needed but not provided.'),
    ErrorSpec("InvalidParameter", 400, 'The specified parameter "{name}" is not valid.{detail}'),
    ErrorSpec("MalformedPolicyDocument", 400, "The policy document is malformed: {reason}"),
    # Authorization and account.
    ErrorSpec("Forbidden.NoPermission", 403, "This action is forbidden: {action}. {reason}"),
    ErrorSpec("Forbidden.Opened", 403, "The KMS service has already been opened."),
    # Resources.
    ErrorSpec("Forbidden.KeyNotFound", 404, "The specified Key is not found."),
    ErrorSpec("Forbidden.KeyVersionNotFound", 404, "The specified KeyVersion is not found."),
    ErrorSpec("Forbidden.AliasNotFound", 404, "The specified Alias is not found."),
    ErrorSpec("Forbidden.ResourceNotFound", 404, "Resource not found."),
    ErrorSpec("Forbidden.DKMSInstanceNotFound", 403, "The specified DKMS Instance is not found."),
    ErrorSpec(
        "Forbidden.DKMSInstanceStateInvalid", 403, "The DKMS instance state is invalid. {reason}"
    ),
    ErrorSpec("Certificate.NotFound", 404, "The specified Certificate is not found."),
    ErrorSpec("AliasAlreadyExists", 400, "The specified Alias already exists."),
    ErrorSpec("Rejected.ResourceExist", 409, "The specified resource already exists."),
    ErrorSpec(
        "Rejected.ResourceInDeleteWindow",
        409,
        "The request is rejected because the resource is scheduled for deletion.",
    ),
    ErrorSpec("Rejected.LimitExceeded", 400, "The limit of {what} is exceeded."),
    ErrorSpec("Rejected.UnsupportedOperation", 400, "The operation is not supported: {reason}"),
    # Mamori's code: Alibaba documents none for a managed rotation that fails.
    ErrorSpec("Rejected.RotationFailed", 409, "The secret could not be rotated: {reason}"),
    ErrorSpec("Unsupported.Origin", 400, "The specified Origin is not supported."),
    # Key material import.
    ErrorSpec("InvalidKeyMaterial", 400, "The key material is invalid."),
    ErrorSpec("InvalidImportToken", 400, "The import token is invalid."),
    ErrorSpec("ExpiredImportToken", 400, "The import token has expired."),
    ErrorSpec(
        "Unsupported.ProtectionLevel", 400, "The specified ProtectionLevel is not supported."
    ),
    # Key states.
    ErrorSpec("Rejected.Disabled", 409, "The request is rejected because the key is Disabled."),
    ErrorSpec(
        "Rejected.PendingDeletion",
        409,
        "The request is rejected because the key is PendingDeletion.",
    ),
    ErrorSpec(
        "Rejected.PendingImport", 409, "The request is rejected because the key is PendingImport."
    ),
    ErrorSpec("Rejected.Enabled", 409, "The request is rejected because the key is Enabled."),
    ErrorSpec(
        "Rejected.StateModifiedFailed",
        409,
        "The key state cannot be changed from {state}: {reason}",
    ),
    # Ciphertext and DryRun.
    ErrorSpec("DryRunOperationError", 400, "Request would have succeeded, but DryRun flag is set."),
    ErrorSpec("ValidationError", 400, "The request failed validation: {detail}"),
    ErrorSpec("AccessDeniedError", 400, "The request would have been denied: {detail}"),
    # Server.
    ErrorSpec(
        "InternalFailure", 500, "The request processing has failed due to some unknown error."
    ),
    ErrorSpec("ServiceUnavailableTemporary", 503, "The service is temporarily unavailable."),
    # Fail-closed audit (docs/audit.md): the record could not be made durable, so the request
    # is not acknowledged; once the audit log has failed, requests are refused before acting.
    ErrorSpec(
        "Rejected.AuditUnavailable",
        503,
        "The request is refused because its audit record cannot be written. "
        "Nothing is done until the audit log is writable again (see the server log).",
    ),
)

# RAM names the entity in the code; the families share a status and a message shape.
_RAM_ROWS: Final[tuple[ErrorSpec, ...]] = (
    *(
        ErrorSpec(f"EntityNotExist.{kind}", 404, "The {kind} does not exist: {name}")
        for kind in (
            "User",
            "Group",
            "Role",
            "Policy",
            "Policy.Version",
            "User.AccessKey",
            "User.Group",
            "User.Policy",
            "Group.Policy",
            "Role.Policy",
        )
    ),
    *(
        ErrorSpec(f"EntityAlreadyExists.{kind}", 409, "The {kind} already exists: {name}")
        for kind in (
            "User",
            "Group",
            "Role",
            "Policy",
            "User.Group",
            "User.Policy",
            "Group.Policy",
            "Role.Policy",
        )
    ),
    *(
        ErrorSpec(f"DeleteConflict.{what}", 409, "{name} cannot be deleted: {what} still exists.")
        for what in (
            "User.AccessKey",
            "User.Group",
            "User.Policy",
            "Group.User",
            "Group.Policy",
            "Role.Policy",
            "Policy.User",
            "Policy.Group",
            "Policy.Role",
            "Policy.Version",
            "Policy.Version.Default",
        )
    ),
    *(
        ErrorSpec(f"LimitExceeded.{what}", 409, "The limit of {what} is exceeded.")
        for what in ("User.AccessKey", "Policy.Version")
    ),
)

# RAM's documented parameter sub-codes (policies, roles, attachments), with RAM's own messages.
_RAM_PARAMETER_ROWS: Final[tuple[ErrorSpec, ...]] = (
    *(
        ErrorSpec(
            f"InvalidParameter.{name}.InvalidChars",
            400,
            f'The parameter - "{name}" contains invalid chars.',
        )
        for name in ("UserName", "GroupName", "RoleName", "PolicyName")
    ),
    *(
        ErrorSpec(
            f"InvalidParameter.{name}.Length",
            400,
            f'The parameter - "{name}" beyond the length limit.',
        )
        for name in (
            "UserName",
            "GroupName",
            "RoleName",
            "PolicyName",
            "Description",
            "NewDescription",
            "PolicyDocument",
            "AssumeRolePolicyDocument",
            "NewAssumeRolePolicyDocument",
        )
    ),
    ErrorSpec("InvalidParameter.PolicyType", 400, 'The parameter - "PolicyType" is incorrect.'),
    ErrorSpec(
        "InvalidParameter.VersionId.Format",
        400,
        'The format of the parameter - "VersionId" is incorrect.',
    ),
    *(
        ErrorSpec(f"LimitExceeded.{what}", 409, "The limit of {what} is exceeded.")
        for what in ("Role", "Policy", "User.Policy", "Group.Policy", "Role.Policy")
    ),
)

ERRORS: Final[dict[str, ErrorSpec]] = {
    row.code: row for row in (*_ROWS, *_RAM_ROWS, *_RAM_PARAMETER_ROWS)
}


class ApiError(Exception):
    """A documented wire error; ``code`` must be a row of ``ERRORS``."""

    def __init__(self, code: str, **fields: object) -> None:
        spec = ERRORS[code]
        self.code = code
        self.status = spec.status
        self.fields = fields
        try:
            self.message = spec.template.format(**fields)
        except (KeyError, IndexError):
            self.message = spec.template.split("{", 1)[0].strip()
        super().__init__(f"{code}: {self.message}")


def missing(name: str) -> ApiError:
    """``MissingParameter`` for ``name``."""
    return ApiError("MissingParameter", name=name)


def invalid(name: str, detail: str = "") -> ApiError:
    """``InvalidParameter`` for ``name``, with an optional detail sentence."""
    return ApiError("InvalidParameter", name=name, detail=f" {detail}" if detail else "")
