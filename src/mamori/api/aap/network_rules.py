"""CreateNetworkRule, DescribeNetworkRule, ListNetworkRules, UpdateNetworkRule,
DeleteNetworkRule."""

from __future__ import annotations

from mamori.api.aap.common import (
    DESCRIPTION,
    SourceIps,
    name_param,
    page_args,
    rule_arn,
    rule_resource,
)
from mamori.api.catalogue import PAGE_NUMBER, PAGE_SIZE, Action, Args, Call, Result
from mamori.api.params import Str


def create_network_rule(call: Call, args: Args) -> Result:
    """CreateNetworkRule."""
    rule = call.services.aap.rules.create(
        call.scope.account_id,
        args["Name"],
        args["Type"],
        args["SourcePrivateIp"] or (),
        args["Description"] or "",
    )
    return {
        "Arn": rule_arn(call.scope, rule.name),
        "Name": rule.name,
        "Type": "Private",
        "Description": rule.description,
        "SourcePrivateIp": rule.sources_json,
    }


def describe_network_rule(call: Call, args: Args) -> Result:
    """DescribeNetworkRule."""
    rule = call.services.aap.rules.describe(call.scope.account_id, args["Name"])
    return {
        "Arn": rule_arn(call.scope, rule.name),
        "Type": "Private",
        "Description": rule.description,
        "SourcePrivateIp": rule.sources_json,
    }


def list_network_rules(call: Call, args: Args) -> Result:
    """ListNetworkRules: by name, paged."""
    number, size = page_args(args)
    rules, total = call.services.aap.rules.page(call.scope.account_id, (number - 1) * size, size)
    return {
        "NetworkRules": {"NetworkRule": [{"Name": r.name, "Type": "Private"} for r in rules]},
        "PageNumber": number,
        "PageSize": size,
        "TotalCount": total,
    }


def update_network_rule(call: Call, args: Args) -> Result:
    """UpdateNetworkRule: the sources and/or the description."""
    call.services.aap.rules.update(
        call.scope.account_id, args["Name"], args["SourcePrivateIp"], args["Description"]
    )
    return {}


def delete_network_rule(call: Call, args: Args) -> Result:
    """DeleteNetworkRule: refused while a policy names the rule."""
    call.services.aap.rules.delete(call.scope.account_id, args["Name"])
    return {}


ACTIONS = (
    Action(
        "CreateNetworkRule",
        (
            name_param(),
            Str("Type", required=True, max_len=16),
            SourceIps("SourcePrivateIp", required=True),
            DESCRIPTION,
        ),
        create_network_rule,
        rule_resource,
    ),
    Action(
        "DescribeNetworkRule", (name_param(),), describe_network_rule, rule_resource, read_only=True
    ),
    Action("ListNetworkRules", (PAGE_NUMBER, PAGE_SIZE), list_network_rules, read_only=True),
    Action(
        "UpdateNetworkRule",
        (name_param(), SourceIps("SourcePrivateIp"), DESCRIPTION),
        update_network_rule,
        rule_resource,
    ),
    Action("DeleteNetworkRule", (name_param(),), delete_network_rule, rule_resource),
)
