from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class KmsEncryptRequest(_message.Message):
    __slots__ = ("KeyId", "Plaintext", "Aad")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    AAD_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Plaintext: bytes
    Aad: bytes
    def __init__(self, KeyId: _Optional[str] = ..., Plaintext: _Optional[bytes] = ..., Aad: _Optional[bytes] = ...) -> None: ...

class KmsEncryptResponse(_message.Message):
    __slots__ = ("KeyId", "CiphertextBlob", "RequestId")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXTBLOB_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    CiphertextBlob: bytes
    RequestId: str
    def __init__(self, KeyId: _Optional[str] = ..., CiphertextBlob: _Optional[bytes] = ..., RequestId: _Optional[str] = ...) -> None: ...

class EncryptRequest(_message.Message):
    __slots__ = ("KeyId", "Plaintext", "Algorithm", "Aad", "Iv", "PaddingMode")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    AAD_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    PADDINGMODE_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Plaintext: bytes
    Algorithm: str
    Aad: bytes
    Iv: bytes
    PaddingMode: str
    def __init__(self, KeyId: _Optional[str] = ..., Plaintext: _Optional[bytes] = ..., Algorithm: _Optional[str] = ..., Aad: _Optional[bytes] = ..., Iv: _Optional[bytes] = ..., PaddingMode: _Optional[str] = ...) -> None: ...

class EncryptResponse(_message.Message):
    __slots__ = ("KeyId", "CiphertextBlob", "Iv", "RequestId", "Algorithm", "PaddingMode")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXTBLOB_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PADDINGMODE_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    CiphertextBlob: bytes
    Iv: bytes
    RequestId: str
    Algorithm: str
    PaddingMode: str
    def __init__(self, KeyId: _Optional[str] = ..., CiphertextBlob: _Optional[bytes] = ..., Iv: _Optional[bytes] = ..., RequestId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., PaddingMode: _Optional[str] = ...) -> None: ...

class KmsDecryptRequest(_message.Message):
    __slots__ = ("CiphertextBlob", "Aad")
    CIPHERTEXTBLOB_FIELD_NUMBER: _ClassVar[int]
    AAD_FIELD_NUMBER: _ClassVar[int]
    CiphertextBlob: bytes
    Aad: bytes
    def __init__(self, CiphertextBlob: _Optional[bytes] = ..., Aad: _Optional[bytes] = ...) -> None: ...

class KmsDecryptResponse(_message.Message):
    __slots__ = ("KeyId", "Plaintext", "RequestId")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Plaintext: bytes
    RequestId: str
    def __init__(self, KeyId: _Optional[str] = ..., Plaintext: _Optional[bytes] = ..., RequestId: _Optional[str] = ...) -> None: ...

class DecryptRequest(_message.Message):
    __slots__ = ("CiphertextBlob", "KeyId", "Algorithm", "Aad", "Iv", "PaddingMode")
    CIPHERTEXTBLOB_FIELD_NUMBER: _ClassVar[int]
    KEYID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    AAD_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    PADDINGMODE_FIELD_NUMBER: _ClassVar[int]
    CiphertextBlob: bytes
    KeyId: str
    Algorithm: str
    Aad: bytes
    Iv: bytes
    PaddingMode: str
    def __init__(self, CiphertextBlob: _Optional[bytes] = ..., KeyId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., Aad: _Optional[bytes] = ..., Iv: _Optional[bytes] = ..., PaddingMode: _Optional[str] = ...) -> None: ...

class DecryptResponse(_message.Message):
    __slots__ = ("KeyId", "Plaintext", "RequestId", "Algorithm", "PaddingMode")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PADDINGMODE_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Plaintext: bytes
    RequestId: str
    Algorithm: str
    PaddingMode: str
    def __init__(self, KeyId: _Optional[str] = ..., Plaintext: _Optional[bytes] = ..., RequestId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., PaddingMode: _Optional[str] = ...) -> None: ...

class SignRequest(_message.Message):
    __slots__ = ("KeyId", "Digest", "Algorithm", "Message", "MessageType")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGETYPE_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Digest: bytes
    Algorithm: str
    Message: bytes
    MessageType: str
    def __init__(self, KeyId: _Optional[str] = ..., Digest: _Optional[bytes] = ..., Algorithm: _Optional[str] = ..., Message: _Optional[bytes] = ..., MessageType: _Optional[str] = ...) -> None: ...

class SignResponse(_message.Message):
    __slots__ = ("KeyId", "Signature", "RequestId", "Algorithm", "MessageType")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    MESSAGETYPE_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Signature: bytes
    RequestId: str
    Algorithm: str
    MessageType: str
    def __init__(self, KeyId: _Optional[str] = ..., Signature: _Optional[bytes] = ..., RequestId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., MessageType: _Optional[str] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("KeyId", "Digest", "Signature", "Algorithm", "Message", "MessageType")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGETYPE_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Digest: bytes
    Signature: bytes
    Algorithm: str
    Message: bytes
    MessageType: str
    def __init__(self, KeyId: _Optional[str] = ..., Digest: _Optional[bytes] = ..., Signature: _Optional[bytes] = ..., Algorithm: _Optional[str] = ..., Message: _Optional[bytes] = ..., MessageType: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("KeyId", "Value", "RequestId", "Algorithm", "MessageType")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    MESSAGETYPE_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Value: bool
    RequestId: str
    Algorithm: str
    MessageType: str
    def __init__(self, KeyId: _Optional[str] = ..., Value: _Optional[bool] = ..., RequestId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., MessageType: _Optional[str] = ...) -> None: ...

class HmacRequest(_message.Message):
    __slots__ = ("KeyId", "Message")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Message: bytes
    def __init__(self, KeyId: _Optional[str] = ..., Message: _Optional[bytes] = ...) -> None: ...

class HmacResponse(_message.Message):
    __slots__ = ("KeyId", "Signature", "RequestId")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Signature: bytes
    RequestId: str
    def __init__(self, KeyId: _Optional[str] = ..., Signature: _Optional[bytes] = ..., RequestId: _Optional[str] = ...) -> None: ...

class GenerateRandomRequest(_message.Message):
    __slots__ = ("Length",)
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    Length: int
    def __init__(self, Length: _Optional[int] = ...) -> None: ...

class GenerateRandomResponse(_message.Message):
    __slots__ = ("Random", "RequestId")
    RANDOM_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    Random: bytes
    RequestId: str
    def __init__(self, Random: _Optional[bytes] = ..., RequestId: _Optional[str] = ...) -> None: ...

class HashRequest(_message.Message):
    __slots__ = ("Message", "Algorithm")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    Message: bytes
    Algorithm: str
    def __init__(self, Message: _Optional[bytes] = ..., Algorithm: _Optional[str] = ...) -> None: ...

class HashResponse(_message.Message):
    __slots__ = ("Digest", "RequestId")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    Digest: bytes
    RequestId: str
    def __init__(self, Digest: _Optional[bytes] = ..., RequestId: _Optional[str] = ...) -> None: ...

class GenerateDataKeyRequest(_message.Message):
    __slots__ = ("KeyId", "Algorithm", "NumberOfBytes", "Aad")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    NUMBEROFBYTES_FIELD_NUMBER: _ClassVar[int]
    AAD_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Algorithm: str
    NumberOfBytes: int
    Aad: bytes
    def __init__(self, KeyId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., NumberOfBytes: _Optional[int] = ..., Aad: _Optional[bytes] = ...) -> None: ...

class GenerateDataKeyResponse(_message.Message):
    __slots__ = ("KeyId", "Iv", "Plaintext", "CiphertextBlob", "RequestId", "Algorithm")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXTBLOB_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Iv: bytes
    Plaintext: bytes
    CiphertextBlob: bytes
    RequestId: str
    Algorithm: str
    def __init__(self, KeyId: _Optional[str] = ..., Iv: _Optional[bytes] = ..., Plaintext: _Optional[bytes] = ..., CiphertextBlob: _Optional[bytes] = ..., RequestId: _Optional[str] = ..., Algorithm: _Optional[str] = ...) -> None: ...

class GetPublicKeyRequest(_message.Message):
    __slots__ = ("KeyId",)
    KEYID_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    def __init__(self, KeyId: _Optional[str] = ...) -> None: ...

class GetPublicKeyResponse(_message.Message):
    __slots__ = ("KeyId", "PublicKey", "RequestId")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    PUBLICKEY_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    PublicKey: str
    RequestId: str
    def __init__(self, KeyId: _Optional[str] = ..., PublicKey: _Optional[str] = ..., RequestId: _Optional[str] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("StatusCode", "ErrorCode", "ErrorMessage", "RequestId")
    STATUSCODE_FIELD_NUMBER: _ClassVar[int]
    ERRORCODE_FIELD_NUMBER: _ClassVar[int]
    ERRORMESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    StatusCode: int
    ErrorCode: str
    ErrorMessage: str
    RequestId: str
    def __init__(self, StatusCode: _Optional[int] = ..., ErrorCode: _Optional[str] = ..., ErrorMessage: _Optional[str] = ..., RequestId: _Optional[str] = ...) -> None: ...

class GetSecretValueRequest(_message.Message):
    __slots__ = ("SecretName", "VersionStage", "VersionId", "FetchExtendedConfig")
    SECRETNAME_FIELD_NUMBER: _ClassVar[int]
    VERSIONSTAGE_FIELD_NUMBER: _ClassVar[int]
    VERSIONID_FIELD_NUMBER: _ClassVar[int]
    FETCHEXTENDEDCONFIG_FIELD_NUMBER: _ClassVar[int]
    SecretName: str
    VersionStage: str
    VersionId: str
    FetchExtendedConfig: bool
    def __init__(self, SecretName: _Optional[str] = ..., VersionStage: _Optional[str] = ..., VersionId: _Optional[str] = ..., FetchExtendedConfig: _Optional[bool] = ...) -> None: ...

class GetSecretValueResponse(_message.Message):
    __slots__ = ("SecretName", "SecretType", "SecretData", "SecretDataType", "VersionStages", "VersionId", "CreateTime", "RequestId", "LastRotationDate", "NextRotationDate", "ExtendedConfig", "AutomaticRotation", "RotationInterval")
    SECRETNAME_FIELD_NUMBER: _ClassVar[int]
    SECRETTYPE_FIELD_NUMBER: _ClassVar[int]
    SECRETDATA_FIELD_NUMBER: _ClassVar[int]
    SECRETDATATYPE_FIELD_NUMBER: _ClassVar[int]
    VERSIONSTAGES_FIELD_NUMBER: _ClassVar[int]
    VERSIONID_FIELD_NUMBER: _ClassVar[int]
    CREATETIME_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    LASTROTATIONDATE_FIELD_NUMBER: _ClassVar[int]
    NEXTROTATIONDATE_FIELD_NUMBER: _ClassVar[int]
    EXTENDEDCONFIG_FIELD_NUMBER: _ClassVar[int]
    AUTOMATICROTATION_FIELD_NUMBER: _ClassVar[int]
    ROTATIONINTERVAL_FIELD_NUMBER: _ClassVar[int]
    SecretName: str
    SecretType: str
    SecretData: str
    SecretDataType: str
    VersionStages: _containers.RepeatedScalarFieldContainer[str]
    VersionId: str
    CreateTime: str
    RequestId: str
    LastRotationDate: str
    NextRotationDate: str
    ExtendedConfig: str
    AutomaticRotation: str
    RotationInterval: str
    def __init__(self, SecretName: _Optional[str] = ..., SecretType: _Optional[str] = ..., SecretData: _Optional[str] = ..., SecretDataType: _Optional[str] = ..., VersionStages: _Optional[_Iterable[str]] = ..., VersionId: _Optional[str] = ..., CreateTime: _Optional[str] = ..., RequestId: _Optional[str] = ..., LastRotationDate: _Optional[str] = ..., NextRotationDate: _Optional[str] = ..., ExtendedConfig: _Optional[str] = ..., AutomaticRotation: _Optional[str] = ..., RotationInterval: _Optional[str] = ...) -> None: ...

class AdvanceEncryptRequest(_message.Message):
    __slots__ = ("KeyId", "Plaintext", "Algorithm", "Aad", "Iv", "PaddingMode")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    AAD_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    PADDINGMODE_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Plaintext: bytes
    Algorithm: str
    Aad: bytes
    Iv: bytes
    PaddingMode: str
    def __init__(self, KeyId: _Optional[str] = ..., Plaintext: _Optional[bytes] = ..., Algorithm: _Optional[str] = ..., Aad: _Optional[bytes] = ..., Iv: _Optional[bytes] = ..., PaddingMode: _Optional[str] = ...) -> None: ...

class AdvanceEncryptResponse(_message.Message):
    __slots__ = ("KeyId", "CiphertextBlob", "Iv", "RequestId", "Algorithm", "PaddingMode", "KeyVersionId")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXTBLOB_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PADDINGMODE_FIELD_NUMBER: _ClassVar[int]
    KEYVERSIONID_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    CiphertextBlob: bytes
    Iv: bytes
    RequestId: str
    Algorithm: str
    PaddingMode: str
    KeyVersionId: str
    def __init__(self, KeyId: _Optional[str] = ..., CiphertextBlob: _Optional[bytes] = ..., Iv: _Optional[bytes] = ..., RequestId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., PaddingMode: _Optional[str] = ..., KeyVersionId: _Optional[str] = ...) -> None: ...

class AdvanceDecryptRequest(_message.Message):
    __slots__ = ("CiphertextBlob", "KeyId", "Algorithm", "Aad", "Iv", "PaddingMode")
    CIPHERTEXTBLOB_FIELD_NUMBER: _ClassVar[int]
    KEYID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    AAD_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    PADDINGMODE_FIELD_NUMBER: _ClassVar[int]
    CiphertextBlob: bytes
    KeyId: str
    Algorithm: str
    Aad: bytes
    Iv: bytes
    PaddingMode: str
    def __init__(self, CiphertextBlob: _Optional[bytes] = ..., KeyId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., Aad: _Optional[bytes] = ..., Iv: _Optional[bytes] = ..., PaddingMode: _Optional[str] = ...) -> None: ...

class AdvanceDecryptResponse(_message.Message):
    __slots__ = ("KeyId", "Plaintext", "RequestId", "Algorithm", "PaddingMode", "KeyVersionId")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PADDINGMODE_FIELD_NUMBER: _ClassVar[int]
    KEYVERSIONID_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Plaintext: bytes
    RequestId: str
    Algorithm: str
    PaddingMode: str
    KeyVersionId: str
    def __init__(self, KeyId: _Optional[str] = ..., Plaintext: _Optional[bytes] = ..., RequestId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., PaddingMode: _Optional[str] = ..., KeyVersionId: _Optional[str] = ...) -> None: ...

class AdvanceGenerateDataKeyRequest(_message.Message):
    __slots__ = ("KeyId", "NumberOfBytes", "Aad")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    NUMBEROFBYTES_FIELD_NUMBER: _ClassVar[int]
    AAD_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    NumberOfBytes: int
    Aad: bytes
    def __init__(self, KeyId: _Optional[str] = ..., NumberOfBytes: _Optional[int] = ..., Aad: _Optional[bytes] = ...) -> None: ...

class AdvanceGenerateDataKeyResponse(_message.Message):
    __slots__ = ("KeyId", "Iv", "Plaintext", "CiphertextBlob", "RequestId", "Algorithm", "KeyVersionId")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXTBLOB_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    KEYVERSIONID_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Iv: bytes
    Plaintext: bytes
    CiphertextBlob: bytes
    RequestId: str
    Algorithm: str
    KeyVersionId: str
    def __init__(self, KeyId: _Optional[str] = ..., Iv: _Optional[bytes] = ..., Plaintext: _Optional[bytes] = ..., CiphertextBlob: _Optional[bytes] = ..., RequestId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., KeyVersionId: _Optional[str] = ...) -> None: ...

class GenerateDataKeyPairRequest(_message.Message):
    __slots__ = ("KeyId", "Algorithm", "KeyPairSpec", "KeyFormat", "Aad")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    KEYPAIRSPEC_FIELD_NUMBER: _ClassVar[int]
    KEYFORMAT_FIELD_NUMBER: _ClassVar[int]
    AAD_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Algorithm: str
    KeyPairSpec: str
    KeyFormat: str
    Aad: bytes
    def __init__(self, KeyId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., KeyPairSpec: _Optional[str] = ..., KeyFormat: _Optional[str] = ..., Aad: _Optional[bytes] = ...) -> None: ...

class GenerateDataKeyPairResponse(_message.Message):
    __slots__ = ("KeyId", "Iv", "KeyPairSpec", "PrivateKeyPlaintext", "PrivateKeyCiphertextBlob", "PublicKey", "RequestId", "Algorithm")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    KEYPAIRSPEC_FIELD_NUMBER: _ClassVar[int]
    PRIVATEKEYPLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    PRIVATEKEYCIPHERTEXTBLOB_FIELD_NUMBER: _ClassVar[int]
    PUBLICKEY_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Iv: bytes
    KeyPairSpec: str
    PrivateKeyPlaintext: bytes
    PrivateKeyCiphertextBlob: bytes
    PublicKey: bytes
    RequestId: str
    Algorithm: str
    def __init__(self, KeyId: _Optional[str] = ..., Iv: _Optional[bytes] = ..., KeyPairSpec: _Optional[str] = ..., PrivateKeyPlaintext: _Optional[bytes] = ..., PrivateKeyCiphertextBlob: _Optional[bytes] = ..., PublicKey: _Optional[bytes] = ..., RequestId: _Optional[str] = ..., Algorithm: _Optional[str] = ...) -> None: ...

class GenerateDataKeyPairWithoutPlaintextRequest(_message.Message):
    __slots__ = ("KeyId", "Algorithm", "KeyPairSpec", "KeyFormat", "Aad")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    KEYPAIRSPEC_FIELD_NUMBER: _ClassVar[int]
    KEYFORMAT_FIELD_NUMBER: _ClassVar[int]
    AAD_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Algorithm: str
    KeyPairSpec: str
    KeyFormat: str
    Aad: bytes
    def __init__(self, KeyId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., KeyPairSpec: _Optional[str] = ..., KeyFormat: _Optional[str] = ..., Aad: _Optional[bytes] = ...) -> None: ...

class GenerateDataKeyPairWithoutPlaintextResponse(_message.Message):
    __slots__ = ("KeyId", "Iv", "KeyPairSpec", "PrivateKeyCiphertextBlob", "PublicKey", "RequestId", "Algorithm")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    KEYPAIRSPEC_FIELD_NUMBER: _ClassVar[int]
    PRIVATEKEYCIPHERTEXTBLOB_FIELD_NUMBER: _ClassVar[int]
    PUBLICKEY_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Iv: bytes
    KeyPairSpec: str
    PrivateKeyCiphertextBlob: bytes
    PublicKey: bytes
    RequestId: str
    Algorithm: str
    def __init__(self, KeyId: _Optional[str] = ..., Iv: _Optional[bytes] = ..., KeyPairSpec: _Optional[str] = ..., PrivateKeyCiphertextBlob: _Optional[bytes] = ..., PublicKey: _Optional[bytes] = ..., RequestId: _Optional[str] = ..., Algorithm: _Optional[str] = ...) -> None: ...

class AdvanceGenerateDataKeyPairRequest(_message.Message):
    __slots__ = ("KeyId", "KeyPairSpec", "KeyFormat", "Aad")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    KEYPAIRSPEC_FIELD_NUMBER: _ClassVar[int]
    KEYFORMAT_FIELD_NUMBER: _ClassVar[int]
    AAD_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    KeyPairSpec: str
    KeyFormat: str
    Aad: bytes
    def __init__(self, KeyId: _Optional[str] = ..., KeyPairSpec: _Optional[str] = ..., KeyFormat: _Optional[str] = ..., Aad: _Optional[bytes] = ...) -> None: ...

class AdvanceGenerateDataKeyPairResponse(_message.Message):
    __slots__ = ("KeyId", "Iv", "KeyPairSpec", "PrivateKeyPlaintext", "PrivateKeyCiphertextBlob", "PublicKey", "RequestId", "Algorithm", "KeyVersionId")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    KEYPAIRSPEC_FIELD_NUMBER: _ClassVar[int]
    PRIVATEKEYPLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    PRIVATEKEYCIPHERTEXTBLOB_FIELD_NUMBER: _ClassVar[int]
    PUBLICKEY_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    KEYVERSIONID_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Iv: bytes
    KeyPairSpec: str
    PrivateKeyPlaintext: bytes
    PrivateKeyCiphertextBlob: bytes
    PublicKey: bytes
    RequestId: str
    Algorithm: str
    KeyVersionId: str
    def __init__(self, KeyId: _Optional[str] = ..., Iv: _Optional[bytes] = ..., KeyPairSpec: _Optional[str] = ..., PrivateKeyPlaintext: _Optional[bytes] = ..., PrivateKeyCiphertextBlob: _Optional[bytes] = ..., PublicKey: _Optional[bytes] = ..., RequestId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., KeyVersionId: _Optional[str] = ...) -> None: ...

class AdvanceGenerateDataKeyPairWithoutPlaintextRequest(_message.Message):
    __slots__ = ("KeyId", "KeyPairSpec", "KeyFormat", "Aad")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    KEYPAIRSPEC_FIELD_NUMBER: _ClassVar[int]
    KEYFORMAT_FIELD_NUMBER: _ClassVar[int]
    AAD_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    KeyPairSpec: str
    KeyFormat: str
    Aad: bytes
    def __init__(self, KeyId: _Optional[str] = ..., KeyPairSpec: _Optional[str] = ..., KeyFormat: _Optional[str] = ..., Aad: _Optional[bytes] = ...) -> None: ...

class AdvanceGenerateDataKeyPairWithoutPlaintextResponse(_message.Message):
    __slots__ = ("KeyId", "Iv", "KeyPairSpec", "PrivateKeyCiphertextBlob", "PublicKey", "RequestId", "Algorithm", "KeyVersionId")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    KEYPAIRSPEC_FIELD_NUMBER: _ClassVar[int]
    PRIVATEKEYCIPHERTEXTBLOB_FIELD_NUMBER: _ClassVar[int]
    PUBLICKEY_FIELD_NUMBER: _ClassVar[int]
    REQUESTID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    KEYVERSIONID_FIELD_NUMBER: _ClassVar[int]
    KeyId: str
    Iv: bytes
    KeyPairSpec: str
    PrivateKeyCiphertextBlob: bytes
    PublicKey: bytes
    RequestId: str
    Algorithm: str
    KeyVersionId: str
    def __init__(self, KeyId: _Optional[str] = ..., Iv: _Optional[bytes] = ..., KeyPairSpec: _Optional[str] = ..., PrivateKeyCiphertextBlob: _Optional[bytes] = ..., PublicKey: _Optional[bytes] = ..., RequestId: _Optional[str] = ..., Algorithm: _Optional[str] = ..., KeyVersionId: _Optional[str] = ...) -> None: ...
