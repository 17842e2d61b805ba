"""Account and service actions."""

from __future__ import annotations

from mamori.api.catalogue import Action, Args, Call, Result


def describe_regions(call: Call, _args: Args) -> Result:
    """DescribeRegions: the one region this server serves."""
    return {"Regions": {"Region": [{"RegionId": call.scope.region}]}}


def describe_account_kms_status(call: Call, _args: Args) -> Result:
    """DescribeAccountKmsStatus."""
    return {"AccountStatus": call.services.accounts.status(call.scope.account_id)}


def open_kms_service(call: Call, _args: Args) -> Result:
    """OpenKmsService."""
    call.services.accounts.open_service(call.scope.account_id)
    return {}


def get_challenge(call: Call, _args: Args) -> Result:
    """GetChallenge: a fresh nonce and the token that vouches for it (core/challenges.py)."""
    made = call.services.challenges.issue(call.scope.account_id)
    return {"Nonce": made.nonce, "ChallengeToken": made.token}


ACTIONS = (
    Action("DescribeRegions", (), describe_regions, read_only=True),
    Action("DescribeAccountKmsStatus", (), describe_account_kms_status, read_only=True),
    Action("OpenKmsService", (), open_kms_service),
    Action("GetChallenge", (), get_challenge, read_only=True),
)
