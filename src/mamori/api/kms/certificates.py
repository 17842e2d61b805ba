"""Certificate actions (the old SDK's certificate family): CreateCertificate, UploadCertificate,
GetCertificate, DescribeCertificate, UpdateCertificateStatus, DeleteCertificate and the four
Certificate* operations. Each authorizes on the certificate's ARN."""

from __future__ import annotations

import base64

from mamori.api.catalogue import Action, Args, Call, Result, Services
from mamori.api.params import B64, Bool, JsonStrList, Str
from mamori.core import tags as tag_store
from mamori.core.model import iso
from mamori.core.refs import Scope
from mamori.crypto import x509_upload

CERTIFICATE_ID = Str("CertificateId", required=True, max_len=64)
ALGORITHM = Str("Algorithm", required=True, max_len=64)
MESSAGE_TYPE = Str("MessageType", required=True, choices=("RAW", "DIGEST"))
MESSAGE = B64("Message", required=True, max_len=8192, max_bytes=4096)
# A certificate is a few KiB of PEM; ten of them bound a chain.
CERTIFICATE = Str("Certificate", required=True, max_len=16 * 1024)
CHAIN = Str("CertificateChain", required=True, max_len=64 * 1024)


def certificate_resource(_services: Services, scope: Scope, args: Args) -> str:
    """The ARN of the certificate CertificateId names (its id, as ids are all there is)."""
    return scope.certificate_arn(str(args.get("CertificateId") or ""))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def create_certificate(call: Call, args: Args) -> Result:
    """CreateCertificate: the key pair, and the CSR to take to a CA."""
    exportable = args["ExportablePrivateKey"]
    made = call.services.certificates.create(
        call.scope,
        args["KeySpec"],
        args["Subject"],
        args["SubjectAlternativeNames"] or [],
        True if exportable is None else exportable,
    )
    return {
        "CertificateId": made.id,
        "Arn": call.scope.certificate_arn(made.id),
        "Csr": made.csr,
    }


def upload_certificate(call: Call, args: Args) -> Result:
    """UploadCertificate."""
    call.services.certificates.upload(
        call.scope, args["CertificateId"], args["Certificate"], args["CertificateChain"]
    )
    return {}


def get_certificate(call: Call, args: Args) -> Result:
    """GetCertificate: the certificate and chain (empty until uploaded) and the CSR."""
    found = call.services.certificates.get(call.scope, args["CertificateId"])
    return {
        "CertificateId": found.id,
        "Certificate": x509_upload.pem(found.certificate) if found.certificate else "",
        "CertificateChain": found.chain or "",
        "Csr": found.csr,
    }


def describe_certificate(call: Call, args: Args) -> Result:
    """DescribeCertificate: the certificate's facts once uploaded, the request's before."""
    found = call.services.certificates.get(call.scope, args["CertificateId"])
    tags = tag_store.of(call.services.db, "certificate", [found.id]).get(found.id, {})
    result: Result = {
        "CertificateId": found.id,
        "Arn": call.scope.certificate_arn(found.id),
        "KeySpec": found.spec,
        "ProtectionLevel": found.protection_level,
        "ExportablePrivateKey": found.exportable,
        "Status": found.status,
        "Subject": found.subject,
        "SubjectAlternativeNames": list(found.names),
        "SubjectPublicKey": _b64(found.public_key),
        "CreatedAt": iso(found.created_at),
        "UpdatedAt": iso(found.updated_at),
        "Tags": tags,
        "Serial": "",
        "Issuer": "",
        "NotBefore": "",
        "NotAfter": "",
        "SubjectKeyIdentifier": "",
        "SignatureAlgorithm": "",
    }
    if found.certificate:
        facts = x509_upload.facts(found.certificate)
        result.update(
            Subject=facts.subject,
            SubjectAlternativeNames=list(facts.names),
            Serial=facts.serial,
            Issuer=facts.issuer,
            NotBefore=iso(facts.not_before),
            NotAfter=iso(facts.not_after),
            SubjectKeyIdentifier=facts.subject_key_identifier,
            SignatureAlgorithm=facts.signature_algorithm,
        )
    return result


def update_certificate_status(call: Call, args: Args) -> Result:
    """UpdateCertificateStatus."""
    call.services.certificates.update_status(call.scope, args["CertificateId"], args["Status"])
    return {}


def delete_certificate(call: Call, args: Args) -> Result:
    """DeleteCertificate."""
    call.services.certificates.delete(call.scope, args["CertificateId"])
    return {}


def private_key_sign(call: Call, args: Args) -> Result:
    """CertificatePrivateKeySign."""
    value = call.services.certificates.sign(
        call.scope, args["CertificateId"], args["Algorithm"], args["MessageType"], args["Message"]
    )
    return {"CertificateId": args["CertificateId"], "SignatureValue": _b64(value)}


def public_key_verify(call: Call, args: Args) -> Result:
    """CertificatePublicKeyVerify: ``SignatureValid`` is a JSON boolean."""
    valid = call.services.certificates.verify(
        call.scope,
        args["CertificateId"],
        args["Algorithm"],
        args["MessageType"],
        args["Message"],
        args["SignatureValue"],
    )
    return {"CertificateId": args["CertificateId"], "SignatureValid": valid}


def public_key_encrypt(call: Call, args: Args) -> Result:
    """CertificatePublicKeyEncrypt."""
    sealed = call.services.certificates.encrypt(
        call.scope, args["CertificateId"], args["Algorithm"], args["Plaintext"]
    )
    return {"CertificateId": args["CertificateId"], "CiphertextBlob": _b64(sealed)}


def private_key_decrypt(call: Call, args: Args) -> Result:
    """CertificatePrivateKeyDecrypt."""
    opened = call.services.certificates.decrypt(
        call.scope, args["CertificateId"], args["Algorithm"], args["CiphertextBlob"]
    )
    return {"CertificateId": args["CertificateId"], "Plaintext": _b64(opened)}


ACTIONS = (
    Action(
        "CreateCertificate",
        (
            Str("Subject", required=True, max_len=1024),
            Str("KeySpec", required=True, max_len=32),
            Bool("ExportablePrivateKey"),
            JsonStrList("SubjectAlternativeNames", max_len=4096),
        ),
        create_certificate,
    ),
    Action(
        "UploadCertificate",
        (CERTIFICATE_ID, CERTIFICATE, CHAIN),
        upload_certificate,
        certificate_resource,
    ),
    Action(
        "GetCertificate", (CERTIFICATE_ID,), get_certificate, certificate_resource, read_only=True
    ),
    Action(
        "DescribeCertificate",
        (CERTIFICATE_ID,),
        describe_certificate,
        certificate_resource,
        read_only=True,
    ),
    Action(
        "UpdateCertificateStatus",
        (CERTIFICATE_ID, Str("Status", required=True, max_len=16)),
        update_certificate_status,
        certificate_resource,
    ),
    Action("DeleteCertificate", (CERTIFICATE_ID,), delete_certificate, certificate_resource),
    Action(
        "CertificatePrivateKeySign",
        (CERTIFICATE_ID, ALGORITHM, MESSAGE_TYPE, MESSAGE),
        private_key_sign,
        certificate_resource,
        business=True,
        read_only=True,
    ),
    Action(
        "CertificatePublicKeyVerify",
        (
            CERTIFICATE_ID,
            ALGORITHM,
            MESSAGE_TYPE,
            MESSAGE,
            B64("SignatureValue", required=True, max_len=2048, max_bytes=1024),
        ),
        public_key_verify,
        certificate_resource,
        business=True,
        read_only=True,
    ),
    Action(
        "CertificatePublicKeyEncrypt",
        (CERTIFICATE_ID, ALGORITHM, B64("Plaintext", required=True, max_len=8192, max_bytes=6144)),
        public_key_encrypt,
        certificate_resource,
        business=True,
        read_only=True,
    ),
    Action(
        "CertificatePrivateKeyDecrypt",
        (
            CERTIFICATE_ID,
            ALGORITHM,
            B64("CiphertextBlob", required=True, max_len=16 * 1024, max_bytes=8192),
        ),
        private_key_decrypt,
        certificate_resource,
        business=True,
        read_only=True,
    ),
)
