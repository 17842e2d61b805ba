"""KMS instances and application access points (read only)."""

from __future__ import annotations

from typing import Final

from mamori.api.errors import ApiError
from mamori.gateway.console.http import Response
from mamori.gateway.console.pages import Page, route


def instances(page: Page) -> Response:
    """GET /instances: each instance described, and the account's application access points."""
    listing = page.caller.run("kms", "ListKmsInstances", PageSize="100")
    rows = []
    for item in listing["KmsInstances"]["KmsInstance"]:
        try:
            got = page.caller.run("kms", "GetKmsInstance", KmsInstanceId=item["KmsInstanceId"])
            rows.append(got["KmsInstance"])
        except ApiError:
            rows.append({"InstanceId": item["KmsInstanceId"]})
    try:
        aaps = page.caller.run("kms", "ListApplicationAccessPoints", PageSize="100")
        points = []
        for item in aaps["ApplicationAccessPoints"]["ApplicationAccessPoint"]:
            try:
                points.append(
                    page.caller.run("kms", "DescribeApplicationAccessPoint", Name=item["Name"])
                )
            except ApiError:
                points.append(item)
    except ApiError:
        points = None
    return page.render("instances.html", instances=rows, points=points)


ROUTES: Final = (route("GET", "/instances", instances),)
