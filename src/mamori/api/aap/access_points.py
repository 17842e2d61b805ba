"""CreateApplicationAccessPoint, DescribeApplicationAccessPoint, ListApplicationAccessPoints,
UpdateApplicationAccessPoint, DeleteApplicationAccessPoint."""

from __future__ import annotations

from mamori.api.aap.common import (
    DESCRIPTION,
    NameList,
    aap_and_policies,
    aap_arn,
    aap_resource,
    name_param,
    page_args,
)
from mamori.api.catalogue import PAGE_NUMBER, PAGE_SIZE, Action, Args, Call, Result
from mamori.api.params import Str
from mamori.iam.access_points import AccessPoint

POLICIES = NameList("Policies", most=3)


def _shown(call: Call, point: AccessPoint) -> Result:
    return {
        "Arn": aap_arn(call.scope, point.name),
        "Name": point.name,
        "Description": point.description,
        "AuthenticationMethod": point.authentication_method,
        "Policies": point.policies_json,
    }


def create_application_access_point(call: Call, args: Args) -> Result:
    """CreateApplicationAccessPoint."""
    point = call.services.aap.points.create(
        call.scope.account_id,
        args["Name"],
        args["Policies"],
        args["AuthenticationMethod"],
        args["Description"] or "",
    )
    return _shown(call, point)


def describe_application_access_point(call: Call, args: Args) -> Result:
    """DescribeApplicationAccessPoint."""
    return _shown(call, call.services.aap.points.describe(call.scope.account_id, args["Name"]))


def list_application_access_points(call: Call, args: Args) -> Result:
    """ListApplicationAccessPoints: by name, paged."""
    number, size = page_args(args)
    points, total = call.services.aap.points.page(call.scope.account_id, (number - 1) * size, size)
    items = [{"Name": p.name, "AuthenticationMethod": p.authentication_method} for p in points]
    return {
        "ApplicationAccessPoints": {"ApplicationAccessPoint": items},
        "PageNumber": number,
        "PageSize": size,
        "TotalCount": total,
    }


def update_application_access_point(call: Call, args: Args) -> Result:
    """UpdateApplicationAccessPoint: the policies and/or the description."""
    call.services.aap.points.update(
        call.scope.account_id, args["Name"], args["Policies"], args["Description"]
    )
    return {}


def delete_application_access_point(call: Call, args: Args) -> Result:
    """DeleteApplicationAccessPoint, with its client keys."""
    call.services.aap.points.delete(call.scope.account_id, args["Name"])
    return {}


ACTIONS = (
    Action(
        "CreateApplicationAccessPoint",
        (
            name_param(),
            NameList("Policies", required=True, most=3),
            Str("AuthenticationMethod", max_len=16),
            DESCRIPTION,
        ),
        create_application_access_point,
        resources=aap_and_policies,
    ),
    Action(
        "DescribeApplicationAccessPoint",
        (name_param(),),
        describe_application_access_point,
        aap_resource,
        read_only=True,
    ),
    Action(
        "ListApplicationAccessPoints",
        (PAGE_NUMBER, PAGE_SIZE),
        list_application_access_points,
        read_only=True,
    ),
    Action(
        "UpdateApplicationAccessPoint",
        (name_param(), POLICIES, DESCRIPTION),
        update_application_access_point,
        resources=aap_and_policies,
    ),
    Action(
        "DeleteApplicationAccessPoint",
        (name_param(),),
        delete_application_access_point,
        aap_resource,
    ),
)
