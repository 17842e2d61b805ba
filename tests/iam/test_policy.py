"""Policy documents: parsing, matching and the evaluation rules (``mamori.iam.policy``)."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mamori.api.errors import ERRORS, ApiError
from mamori.iam.policy import (
    MAX_LENGTH,
    Allow,
    Deny,
    MalformedPolicy,
    NamedPolicy,
    Policy,
    RequestContext,
    evaluate,
    evaluate_cross,
    evaluate_with_boundary,
    parse_policy,
    parse_policy_cached,
)

ACCOUNT = "1192853035000000"
OTHER = "2222222222222222"
ALICE = f"acs:ram::{ACCOUNT}:user/alice"
BOB = f"acs:ram::{OTHER}:user/bob"
KEY = f"acs:kms:cn-hangzhou:{ACCOUNT}:key/key-abc"
OTHER_KEY = f"acs:kms:cn-hangzhou:{ACCOUNT}:key/key-xyz"
ALIAS = f"acs:kms:cn-hangzhou:{ACCOUNT}:alias/payments"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def ctx(principal: str = ALICE, source_ip: str = "10.1.2.3") -> RequestContext:
    return RequestContext(source_ip, NOW, True, principal)


def doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def allow(action: object = "kms:*", resource: object = "*", **extra: object) -> dict[str, object]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: object = "kms:*", resource: object = "*", **extra: object) -> dict[str, object]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def policy(*statements: dict[str, object], resource_policy: bool = False) -> Policy:
    return parse_policy(doc(*statements), resource_policy=resource_policy)


def named(name: str, *statements: dict[str, object]) -> NamedPolicy:
    return NamedPolicy(name, policy(*statements))


def allows(
    p: Policy, action: str, resource: str = KEY, request: RequestContext | None = None
) -> bool:
    return p.matches("Allow", action, resource, request or ctx()) is not None


# --- parsing ---------------------------------------------------------------------------------


def test_a_document_compiles_into_statements() -> None:
    p = policy(
        allow(["kms:Encrypt", "kms:Decrypt"], KEY, Sid="Use"),
        {"Effect": "Deny", "NotAction": "kms:Describe*", "NotResource": KEY},
    )
    first, second = p.statements
    assert (first.index, first.sid, first.effect, first.label) == (
        0,
        "Use",
        "Allow",
        "statement 0 (Use)",
    )
    assert first.actions == ("kms:Encrypt", "kms:Decrypt") and not first.not_action
    assert first.resources == (KEY,) and not first.not_resource
    assert first.principals is None and first.conditions == ()
    assert (second.sid, second.label, second.effect) == (None, "statement 1", "Deny")
    assert second.not_action and second.actions == ("kms:Describe*",)
    assert second.not_resource and second.resources == (KEY,)


def test_a_single_statement_object_is_accepted() -> None:
    text = json.dumps({"Version": "1", "Statement": allow("kms:Encrypt", KEY)})
    assert allows(parse_policy(text), "kms:Encrypt")


def test_conditions_are_compiled_at_parse_time() -> None:
    cond = {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}, "Bool": {"acs:SecureTransport": True}}
    (st0,) = policy(allow(Condition=cond)).statements
    assert [(c.operator, c.key) for c in st0.conditions] == [
        ("IpAddress", "acs:SourceIp"),
        ("Bool", "acs:SecureTransport"),
    ]


def bad(text: str, *, resource_policy: bool = False, max_length: int = MAX_LENGTH) -> str:
    with pytest.raises(MalformedPolicy) as info:
        parse_policy(text, resource_policy=resource_policy, max_length=max_length)
    return info.value.reason


ST = allow("kms:Encrypt", KEY)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not valid JSON: Expecting property name"),
        ("", "not valid JSON"),
        ("[]", "the document must be a JSON object"),
        ('{"Version": "1", "Statement": [NaN]}', "NaN is not valid JSON"),
        (json.dumps({"Version": "2", "Statement": [ST]}), 'Version must be "1", not "2"'),
        (json.dumps({"Version": 1, "Statement": [ST]}), 'Version must be "1", not 1'),
        (json.dumps({"Statement": [ST]}), "Version is required"),
        (json.dumps({"Version": "1"}), "Statement is required"),
        (json.dumps({"Version": "1", "Statement": []}), "Statement must not be empty"),
        (json.dumps({"Version": "1", "Statement": "x"}), "Statement must be a list"),
        (json.dumps({"Version": "1", "Statement": [1]}), "Statement[0] must be an object"),
        (json.dumps({"Version": "1", "Id": "x", "Statement": [ST]}), "unknown element 'Id'"),
        (
            '{"Version": "1", "Statement": [{"Effect": "Deny", "Effect": "Allow", '
            '"Action": "kms:*", "Resource": "*"}]}',
            "the key 'Effect' appears twice",
        ),
        (doc({"Action": "kms:*", "Resource": "*"}), "Statement[0] needs an Effect"),
        (doc({**ST, "Effect": "allow"}), 'Effect must be "Allow" or "Deny" (case-sensitive)'),
        (doc({**ST, "Effect": True}), 'Effect must be "Allow" or "Deny"'),
        (doc({"Effect": "Allow", "Resource": "*"}), "needs Action or NotAction"),
        (doc({**ST, "NotAction": "kms:Decrypt"}), "has both Action and NotAction"),
        (doc({**ST, "Action": 42}), "Statement[0].Action must be a string or a list"),
        (doc({**ST, "Action": {"a": 1}}), "Statement[0].Action must be a string or a list"),
        (doc({**ST, "Action": []}), "Statement[0].Action must not be empty"),
        (doc({**ST, "Action": ["kms:Encrypt", 3]}), "Statement[0].Action[1] must be a string"),
        (doc({**ST, "Action": ""}), "must not be an empty string"),
        (doc({**ST, "Action": "Encrypt"}), "'Encrypt' is not \"*\" or <service>:<action>"),
        (doc({"Effect": "Allow", "Action": "kms:*"}), "needs Resource or NotResource"),
        (doc({**ST, "NotResource": "*"}), "has both Resource and NotResource"),
        (doc({**ST, "Resource": "key/abc"}), "'key/abc' is not \"*\" or an acs: resource name"),
        (doc({**ST, "Resources": "*"}), "Statement[0] has an unknown element 'Resources'"),
        (doc({**ST, "Sid": 5}), "Statement[0].Sid must be a string"),
        (doc(ST, {**ST, "Principal": "*"}), "Statement[1].Principal is only allowed in key"),
        (doc({**ST, "Condition": []}), "Statement[0].Condition must be an object of operators"),
        (
            doc({**ST, "Condition": {"StringEquals": {}}}),
            "Statement[0].Condition.StringEquals must be a non-empty object",
        ),
        (
            doc({**ST, "Condition": {"StringEqual": {"kms:tag/a": "b"}}}),
            "Statement[0].Condition.StringEqual.kms:tag/a: unknown condition operator",
        ),
        (
            doc({**ST, "Condition": {"IpAddress": {"acs:SourceIp": "10.0.0.300/8"}}}),
            "Condition.IpAddress.acs:SourceIp: '10.0.0.300/8' is not an IP address or CIDR",
        ),
        (
            doc({**ST, "Condition": {"DateLessThan": {"acs:CurrentTime": "soon"}}}),
            "'soon' is not an ISO 8601 date-time or integer epoch seconds",
        ),
        (
            doc({**ST, "Condition": {"NumericLessThan": {"kms:tag/n": "ten"}}}),
            "'ten' is not a number",
        ),
        (
            doc({**ST, "Condition": {"Bool": {"acs:SecureTransport": "yes"}}}),
            "'yes' is not true or false",
        ),
        (
            doc({**ST, "Condition": {"StringEquals": {"SourceIp": "x"}}}),
            "'SourceIp' is not of the form <service>:<name>",
        ),
        (
            doc({**ST, "Condition": {"StringEquals": {"kms:tag/a": []}}}),
            "StringEquals.kms:tag/a must not be an empty list",
        ),
        (
            doc({**ST, "Condition": {"StringEquals": {"kms:tag/a": [None]}}}),
            "values must be strings, numbers or booleans",
        ),
        (
            doc({**ST, "Condition": {"StringEquals": {"kms:tag/a": {"x": "y"}}}}),
            "values must be strings, numbers or booleans",
        ),
    ],
)
def test_bad_documents_are_refused_with_a_precise_reason(text: str, reason: str) -> None:
    assert reason in bad(text)


def test_an_error_deep_in_the_last_statement_is_found_up_front() -> None:
    late = allow(Condition={"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "nope"]}})
    assert bad(doc(ST, ST, late)).startswith("Statement[2].Condition.IpAddress.acs:SourceIp:")


def test_over_long_documents_are_refused() -> None:
    padded = doc({**ST, "Sid": "x" * MAX_LENGTH})
    assert f"the limit is {MAX_LENGTH}" in bad(padded)
    assert "the limit is 10" in bad(doc(ST), max_length=10)
    assert parse_policy(doc(ST), max_length=len(doc(ST)))


def test_deeply_nested_json_is_refused_not_crashed() -> None:
    assert "nested too deeply" in bad("[" * 3000 + "]" * 3000, max_length=10_000)


def test_numbers_out_of_range_are_refused_not_crashed() -> None:
    cond = {"NumericLessThan": {"kms:tag/n": 0}}
    text = doc({**ST, "Condition": cond})
    huge_exponent = text.replace(": 0}", ": 1e99999999999999999999999999}")
    reason = bad(huge_exponent)
    assert reason.startswith("the number 1e999") and reason.endswith("… is out of range")
    many_digits = text.replace(": 0}", ": " + "9" * 5000 + "}")
    assert bad(many_digits, max_length=10_000).endswith("9… has too many digits")


def test_exact_decimal_numbers() -> None:
    cond = {"NumericEquals": {"kms:EncryptionContext/ratio": 0.1}}
    p = policy(allow(Condition=cond))
    request = RequestContext("10.0.0.1", NOW, True, ALICE, encryption_context={"ratio": "0.10"})
    assert allows(p, "kms:Encrypt", request=request)


def test_malformed_policy_is_a_domain_error_with_its_wire_row() -> None:
    exc = MalformedPolicy("Statement[0] needs an Effect")
    assert exc.code == "MalformedPolicyDocument"
    assert exc.fields == {"reason": "Statement[0] needs an Effect"}
    assert str(exc) == "MalformedPolicyDocument: Statement[0] needs an Effect"
    assert ERRORS["MalformedPolicyDocument"].status == 400
    api = ApiError(exc.code, **exc.fields)
    assert api.message == "The policy document is malformed: Statement[0] needs an Effect"


def test_parse_cache_returns_the_same_compiled_policy_and_does_not_cache_failures() -> None:
    text = doc(allow("kms:Encrypt", KEY, Sid="cached"))
    assert parse_policy_cached(text) is parse_policy_cached(text)
    assert parse_policy_cached(text, resource_policy=False) is not None
    for _ in range(2):
        with pytest.raises(MalformedPolicy):
            parse_policy_cached("{")


# --- actions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("kms:*", "kms:Encrypt", True),
        ("kms:*", "ram:CreateUser", False),
        ("*", "ram:CreateUser", True),
        ("kms:Get*", "kms:GetPublicKey", True),
        ("kms:Get*", "kms:Encrypt", False),
        ("kms:?ncrypt", "kms:Encrypt", True),
        ("kms:?ncrypt", "kms:Decrypt", False),
        ("kms:*crypt", "kms:Decrypt", True),
        ("kms:Encrypt", "KMS:encrypt", True),
        ("KMS:encrypt", "kms:Encrypt", True),
        ("kms:get*", "kms:GetSecretValue", True),
        ("kms:Encrypt", "kms:EncryptX", False),
    ],
)
def test_action_matching_is_case_insensitive_with_wildcards(
    pattern: str, action: str, expected: bool
) -> None:
    assert allows(policy(allow(pattern)), action) is expected


@given(st.lists(st.booleans(), min_size=11, max_size=11))
def test_any_spelling_of_an_action_matches(upper: list[bool]) -> None:
    spelt = "".join(
        c.upper() if u else c.lower() for c, u in zip("kms:Encrypt", upper, strict=True)
    )
    assert allows(policy(allow("kms:Encrypt")), spelt)
    assert allows(policy(allow(spelt)), "kms:Encrypt")


def test_not_action_covers_every_other_action() -> None:
    p = policy(
        {
            "Effect": "Allow",
            "NotAction": ["kms:Delete*", "kms:ScheduleKeyDeletion"],
            "Resource": "*",
        }
    )
    assert allows(p, "kms:Encrypt")
    assert not allows(p, "kms:ScheduleKeyDeletion")
    assert not allows(p, "kms:deletealias")


# --- resources -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("*", KEY, True),
        ("acs:kms:*:*:key/*", KEY, True),
        ("acs:kms:*:*:key/*", ALIAS, False),
        ("acs:kms:*", KEY, True),  # * spans ':' and '/'
        (f"acs:kms:*:{ACCOUNT}:key/key-ab?", KEY, True),
        (f"acs:kms:*:{ACCOUNT}:key/key-a?", KEY, False),
        ("acs:kms:*:*:KEY/*", KEY, False),  # resources are case-sensitive
        (KEY.replace("key-abc", "KEY-ABC"), KEY, False),
        (KEY, KEY, True),
        (f"acs:kms:*:{OTHER}:key/*", KEY, False),
    ],
)
def test_resource_matching_is_case_sensitive_with_wildcards(
    pattern: str, resource: str, expected: bool
) -> None:
    assert allows(policy(allow("kms:Encrypt", pattern)), "kms:Encrypt", resource) is expected


def test_not_resource_covers_every_other_resource() -> None:
    p = policy(allow(), {"Effect": "Deny", "Action": "kms:*", "NotResource": KEY})
    assert p.matches("Deny", "kms:Encrypt", OTHER_KEY, ctx()) is not None
    assert p.matches("Deny", "kms:Encrypt", KEY, ctx()) is None


# --- conditions within statements ------------------------------------------------------------


def test_operators_and_keys_are_anded_values_ored() -> None:
    both = policy(
        allow(
            Condition={
                "IpAddress": {"acs:SourceIp": ["192.168.0.0/16", "10.0.0.0/8"]},
                "StringLike": {"acs:PrincipalArn": "*:user/*", "acs:SourceIp": "10.*"},
            }
        )
    )
    assert allows(both, "kms:Encrypt")
    assert not allows(both, "kms:Encrypt", request=ctx(source_ip="192.168.1.1"))
    assert not allows(both, "kms:Encrypt", request=ctx(principal=f"acs:ram::{ACCOUNT}:role/x"))


def test_if_exists_lets_a_statement_apply_without_the_key() -> None:
    p = policy(allow(Condition={"StringEqualsIfExists": {"kms:EncryptionContext/tenant": "acme"}}))
    assert allows(p, "kms:Encrypt")
    strict = policy(allow(Condition={"StringEquals": {"kms:EncryptionContext/tenant": "acme"}}))
    assert not allows(strict, "kms:Encrypt")


# --- evaluate --------------------------------------------------------------------------------


def test_an_allow_names_the_statement() -> None:
    decision = evaluate(
        [named("Crypto", deny("kms:Delete*"), allow("kms:Encrypt", Sid="Use"))],
        "kms:Encrypt",
        KEY,
        ctx(),
    )
    assert decision == Allow("allowed by Crypto statement 1 (Use)", "Crypto statement 1 (Use)")


def test_explicit_deny_beats_allow_across_policies_in_any_order() -> None:
    permissive = named("Everything", allow("*"))
    guard = named("Guard", allow("kms:Describe*"), deny("kms:ScheduleKeyDeletion", Sid="NoDelete"))
    for order in ([permissive, guard], [guard, permissive]):
        decision = evaluate(order, "kms:ScheduleKeyDeletion", KEY, ctx())
        assert isinstance(decision, Deny) and decision.explicit
        assert decision.statement == "Guard statement 1 (NoDelete)"
        assert decision.reason == "explicitly denied by Guard statement 1 (NoDelete)"
        assert isinstance(evaluate(order, "kms:Encrypt", KEY, ctx()), Allow)


def test_a_deny_whose_condition_fails_does_not_deny() -> None:
    outside = named(
        "Office", allow(), deny(Condition={"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}})
    )
    assert isinstance(evaluate([outside], "kms:Encrypt", KEY, ctx()), Allow)
    decision = evaluate([outside], "kms:Encrypt", KEY, ctx(source_ip="198.51.100.1"))
    assert isinstance(decision, Deny) and decision.explicit


def test_implicit_deny_mentions_the_action_and_resource() -> None:
    decision = evaluate([named("Read", allow("kms:Describe*"))], "kms:Encrypt", KEY, ctx())
    assert decision == Deny(f"no policy allows kms:Encrypt on {KEY}")
    assert isinstance(decision, Deny) and not decision.explicit and decision.statement is None
    assert evaluate([], "kms:Encrypt", KEY, ctx()) == decision


def test_matches_returns_the_first_statement_of_the_effect() -> None:
    p = policy(allow("kms:Get*"), deny("kms:GetSecretValue"), allow("kms:*"))
    hit = p.matches("Allow", "kms:GetSecretValue", KEY, ctx())
    assert hit is not None and hit.index == 0
    denied = p.matches("Deny", "kms:GetSecretValue", KEY, ctx())
    assert denied is not None and denied.index == 1
    assert p.matches("Deny", "kms:Encrypt", KEY, ctx()) is None
    assert p.statements[2].applies("KMS:ENCRYPT", KEY, ctx())


# --- session policies (STS AssumeRole) -------------------------------------------------------

IDENTITY = [named("RoleAccess", allow("kms:*"))]


def test_no_session_policy_leaves_the_identity_decision() -> None:
    assert evaluate_with_boundary(IDENTITY, None, "kms:Decrypt", KEY, ctx()) == evaluate(
        IDENTITY, "kms:Decrypt", KEY, ctx()
    )


def test_a_session_policy_only_narrows() -> None:
    session = policy(allow("kms:Encrypt"))
    assert isinstance(evaluate_with_boundary(IDENTITY, session, "kms:Encrypt", KEY, ctx()), Allow)
    decision = evaluate_with_boundary(IDENTITY, session, "kms:Decrypt", KEY, ctx())
    assert decision == Deny(f"the session policy does not allow kms:Decrypt on {KEY}")
    # It cannot widen what the identity lacks.
    wide = policy(allow("*"))
    narrow_identity = [named("EncryptOnly", allow("kms:Encrypt"))]
    decision = evaluate_with_boundary(narrow_identity, wide, "kms:Decrypt", KEY, ctx())
    assert decision == Deny(f"no policy allows kms:Decrypt on {KEY}")


def test_explicit_deny_in_either_wins() -> None:
    session_deny = policy(allow(), deny("kms:Decrypt", Sid="NoDecrypt"))
    decision = evaluate_with_boundary(IDENTITY, session_deny, "kms:Decrypt", KEY, ctx())
    assert (
        isinstance(decision, Deny)
        and decision.statement == "session policy statement 1 (NoDecrypt)"
    )
    identity_deny = [named("Guard", deny("kms:Decrypt"))]
    decision = evaluate_with_boundary(identity_deny, policy(allow()), "kms:Decrypt", KEY, ctx())
    assert isinstance(decision, Deny) and decision.statement == "Guard statement 0"


# --- resource (key and secret) policies ------------------------------------------------------


def key_policy(*principals: str, **extra: object) -> Policy:
    statement: dict[str, object] = {
        "Effect": "Allow",
        "Principal": {"RAM": list(principals)},
        "Action": ["kms:Encrypt", "kms:Decrypt"],
        "Resource": "*",
        **extra,
    }
    return policy(statement, resource_policy=True)


def test_resource_policies_parse_principals_and_may_omit_resource() -> None:
    p = parse_policy(
        doc({"Effect": "Allow", "Principal": {"RAM": ALICE}, "Action": "kms:*"}),
        resource_policy=True,
    )
    (statement,) = p.statements
    assert p.resource_policy and statement.principals == (ALICE,) and statement.resources is None
    assert allows(p, "kms:Encrypt", KEY) and allows(p, "kms:Encrypt", ALIAS)
    star = parse_policy(
        doc({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}),
        resource_policy=True,
    )
    assert star.statements[0].principals == ("*",)
    assert allows(star, "kms:Encrypt", request=ctx(BOB))


@pytest.mark.parametrize(
    ("principal", "caller", "expected"),
    [
        (ALICE, ALICE, True),
        (ALICE, f"acs:ram::{ACCOUNT}:user/alicia", False),
        (f"acs:ram::{ACCOUNT}:*", ALICE, True),
        (f"acs:ram::{ACCOUNT}:*", BOB, False),
        (f"acs:ram::{ACCOUNT}:root", ALICE, False),  # root names the administrator only
        (f"acs:ram::{ACCOUNT}:root", f"acs:ram::{ACCOUNT}:root", True),
        ("*", BOB, True),
    ],
)
def test_principals_match_the_caller_arn(principal: str, caller: str, expected: bool) -> None:
    assert allows(key_policy(principal), "kms:Encrypt", request=ctx(caller)) is expected


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}, "Statement[0] needs a Principal"),
        ({**ST, "Principal": {"Service": "ecs.aliyuncs.com"}}, "unknown element 'Service'"),
        ({**ST, "Principal": {}}, 'must name "RAM" principals'),
        ({**ST, "Principal": 5}, 'Statement[0].Principal must be "*" or {"RAM": [...]}'),
        (
            {**ST, "Principal": {"RAM": "user/alice"}},
            "'user/alice' is not \"*\" or an acs:ram:: ARN",
        ),
        ({**ST, "Principal": {"RAM": []}}, "Principal.RAM must not be empty"),
    ],
)
def test_bad_resource_policies(statement: dict[str, object], reason: str) -> None:
    assert reason in bad(doc(statement), resource_policy=True)


def test_same_account_needs_either_grant() -> None:
    granted = key_policy(ALICE)
    yes = evaluate(IDENTITY, "kms:Encrypt", KEY, ctx())
    no = evaluate([], "kms:Encrypt", KEY, ctx())
    assert evaluate_cross(yes, None, "kms:Encrypt", KEY, ctx(), same_account=True) is yes
    decision = evaluate_cross(
        no, granted, "kms:Encrypt", KEY, ctx(), same_account=True, name="key-abc"
    )
    assert decision == Allow("allowed by key-abc statement 0", "key-abc statement 0")
    decision = evaluate_cross(no, key_policy(BOB), "kms:Encrypt", KEY, ctx(), same_account=True)
    assert decision == no  # the identity's "no policy allows …" is the reason


def test_explicit_deny_in_a_resource_policy_beats_an_identity_allow() -> None:
    guard = policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Sid": "Lock",
        },
        resource_policy=True,
    )
    yes = evaluate(IDENTITY, "kms:Decrypt", KEY, ctx())
    decision = evaluate_cross(yes, guard, "kms:Decrypt", KEY, ctx(), same_account=True)
    assert isinstance(decision, Deny) and decision.statement == "resource policy statement 0 (Lock)"


def test_explicit_deny_in_identity_beats_a_resource_allow() -> None:
    denied = evaluate([named("Guard", deny("kms:Encrypt"))], "kms:Encrypt", KEY, ctx())
    decision = evaluate_cross(
        denied, key_policy(ALICE), "kms:Encrypt", KEY, ctx(), same_account=True
    )
    assert decision is denied


def test_cross_account_needs_both_grants() -> None:
    bob = ctx(BOB)
    yes = evaluate(IDENTITY, "kms:Encrypt", KEY, bob)
    no = evaluate([], "kms:Encrypt", KEY, bob)
    granted = key_policy(BOB)
    both = evaluate_cross(yes, granted, "kms:Encrypt", KEY, bob, same_account=False)
    assert isinstance(both, Allow) and both.statement == "resource policy statement 0"
    assert "RoleAccess statement 0" in both.reason and "resource policy statement 0" in both.reason
    assert evaluate_cross(no, granted, "kms:Encrypt", KEY, bob, same_account=False) == no
    silent = evaluate_cross(yes, key_policy(ALICE), "kms:Encrypt", KEY, bob, same_account=False)
    assert silent == Deny(f"no resource policy statement allows {BOB} to kms:Encrypt on {KEY}")
    absent = evaluate_cross(yes, None, "kms:Encrypt", KEY, bob, same_account=False)
    assert isinstance(absent, Deny) and not absent.explicit


# --- robustness: only MalformedPolicy out of the parser, nothing out of evaluation ----------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["*", "kms:*", "acs:kms:*", "10.0.0.0/8", "2026-01-01T00:00:00Z", "1e5"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
ELEMENTS = st.sampled_from(
    ["Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "Condition", "Sid"]
)
OPERATOR_NAMES = st.sampled_from(
    [
        "StringEquals",
        "StringLike",
        "NumericLessThan",
        "DateGreaterThanIfExists",
        "Bool",
        "IpAddress",
    ]
)


@given(
    st.dictionaries(ELEMENTS, JSON, max_size=6),
    OPERATOR_NAMES,
    st.sampled_from(["acs:SourceIp", "kms:tag/x", "acs:CurrentTime", "bad key"]),
    JSON,
    st.booleans(),
)
def test_the_parser_only_ever_raises_malformed_policy(
    statement: dict[str, object], operator: str, key: str, value: object, resource_policy: bool
) -> None:
    statement.setdefault("Condition", {operator: {key: value}})
    with contextlib.suppress(MalformedPolicy):
        parse_policy(doc(statement), resource_policy=resource_policy)


@given(st.text(max_size=200))
def test_arbitrary_text_only_ever_raises_malformed_policy(text: str) -> None:
    with contextlib.suppress(MalformedPolicy):
        parse_policy(text)


EVERY_OPERATOR = policy(
    allow(
        Condition={
            "StringLike": {"kms:EncryptionContext/a": "*x*y*"},
            "NumericLessThanIfExists": {"kms:EncryptionContext/a": 5},
            "DateGreaterThanIfExists": {"kms:EncryptionContext/a": "2020-01-01"},
            "BoolIfExists": {"kms:EncryptionContext/a": True},
            "NotIpAddress": {"kms:EncryptionContext/a": "10.0.0.0/8"},
            "StringNotEqualsIgnoreCase": {"acs:SourceIp": "x"},
        }
    )
)


@given(st.text(max_size=64), st.text(max_size=40), st.text(max_size=40))
def test_evaluation_never_raises_on_request_values(value: str, source_ip: str, arn: str) -> None:
    request = RequestContext(source_ip, NOW, False, arn, {"a": value}, {"a": value})
    evaluate([NamedPolicy("p", EVERY_OPERATOR)], "kms:Encrypt", value, request)


# --- role names match in any case --------------------------------------------------------------


def test_a_role_arn_matches_in_any_case_and_a_user_arn_exactly() -> None:
    role = f"acs:ram::{ACCOUNT}:role/KmsAdmin"
    shouted = f"acs:ram::{ACCOUNT}:ROLE/KMSADMIN"
    for pattern in (role, role.lower(), shouted, "acs:ram::*:role/kms*"):
        p = policy(allow("ram:UpdateRole", pattern))
        for spelling in ("KmsAdmin", "kmsadmin", "KMSADMIN"):
            assert allows(p, "ram:UpdateRole", f"acs:ram::{ACCOUNT}:role/{spelling}"), pattern
    # NotResource excludes every spelling of the role too.
    others = policy({"Effect": "Allow", "Action": "ram:*", "NotResource": role})
    assert not allows(others, "ram:UpdateRole", role.lower())
    # User names keep their case: alice and Alice are two users.
    users = policy(allow("ram:UpdateUser", ALICE))
    assert not allows(users, "ram:UpdateUser", f"acs:ram::{ACCOUNT}:user/Alice")


def test_a_role_session_principal_matches_in_any_case() -> None:
    session = f"acs:ram::{ACCOUNT}:assumed-role/App/worker"
    key_policy = policy(
        allow("kms:Encrypt", Principal={"RAM": [f"acs:ram::{ACCOUNT}:assumed-role/app/*"]}),
        resource_policy=True,
    )
    assert allows(key_policy, "kms:Encrypt", request=ctx(principal=session))
    # Conditions see the ARN as created and as older versions wrote it (role name lower-cased).
    for written, holds in (("App", True), ("app", True), ("APP", False)):
        cond = {
            "StringEquals": {
                "acs:PrincipalARN": f"acs:ram::{ACCOUNT}:assumed-role/{written}/worker"
            }
        }
        assert allows(policy(allow(Condition=cond)), "kms:Encrypt", request=ctx(session)) is holds
        negated = {"StringNotEquals": cond["StringEquals"]}
        assert (
            allows(policy(allow(Condition=negated)), "kms:Encrypt", request=ctx(session))
            is not holds
        )
