"""The console in a real browser: what a person does, as the administrator and as a RAM user."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from alibabacloud_kms20160120 import models as km

from tests.audit.helpers import find
from tests.compat.ram_helpers import unique
from tests.conftest import ServerProcess
from tests.gateway.console.conftest import Identity, sign_in

pytestmark = pytest.mark.timeout(120)


def _wait(predicate: Any, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _by(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def _all(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, css))


def _sign_in(driver: Any, base_url: str, who: Identity) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base_url}/console/keys")
    assert urlparse(driver.current_url).path == "/console/sign-in"
    _by(driver, "#access_key_id").send_keys(who.access_key_id)
    _by(driver, "#access_key_secret").send_keys(who.secret)
    _by(driver, "#sign-in").click()
    try:
        _wait(lambda: urlparse(driver.current_url).path == "/console/keys", "the key list")
    except AssertionError:
        raise AssertionError(driver.current_url + driver.page_source[:2000]) from None


def _same_origin_only(driver: Any, base_url: str) -> None:
    """Everything the page loaded came from the console's own origin, and nothing it tried to
    load or run was blocked by the CSP."""
    loaded = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert loaded, "the page loaded its stylesheet and script"
    assert all(url.startswith(f"{base_url}/console/static/") for url in loaded), loaded
    for attribute in ("src", "href", "action"):
        for element in _all(driver, f"[{attribute}]"):
            value = element.get_attribute(attribute) or ""
            assert value.startswith(base_url) or not value.startswith("http"), value


def _no_csp_violations(driver: Any) -> None:
    errors = [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or entry["level"] == "SEVERE"
    ]
    assert errors == []


def test_admin_creates_a_key_schedules_its_deletion_reveals_a_secret_and_signs_out(
    browser: Any,
    base_url: str,
    admin: Identity,
    console_server: ServerProcess,
    shots: Path,
) -> None:
    driver = browser
    driver.get(f"{base_url}/console/sign-in")
    driver.save_screenshot(str(shots / "sign-in.png"))
    _sign_in(driver, base_url, admin)

    # Create a key from the list page.
    description = unique("made in the console")
    _by(driver, "#create-key-panel summary").click()
    _by(driver, "#Description").send_keys(description)
    _by(driver, "#create-key-submit").click()
    _wait(lambda: "/console/keys/key-" in driver.current_url, "the new key's page")
    key_id = urlparse(driver.current_url).path.rsplit("/", 1)[1]
    assert f"Created key {key_id}." in _by(driver, "#flash").text

    # It is in the list, described.
    driver.get(f"{base_url}/console/keys")
    row = _by(driver, f'tr[data-key-id="{key_id}"]')
    assert description in row.text and "Enabled" in row.text
    _same_origin_only(driver, base_url)
    driver.save_screenshot(str(shots / "keys.png"))

    # The filters are the API's: a Disabled filter leaves it out.
    driver.get(f"{base_url}/console/keys?KeyState=Disabled")
    assert not _all(driver, f'tr[data-key-id="{key_id}"]')

    # Schedule its deletion.
    driver.get(f"{base_url}/console/keys/{key_id}")
    window = _by(driver, "#PendingWindowInDays")
    window.clear()
    window.send_keys("7")
    _by(driver, "#schedule-deletion-submit").click()
    _wait(lambda: _all(driver, "#flash"), "the confirmation")
    assert _by(driver, "#flash").text == f"Scheduled {key_id} for deletion in 7 days."
    assert "PendingDeletion" in _by(driver, "h1").text
    assert "scheduled for" in _by(driver, "#deletion").text
    assert _all(driver, "#cancel-deletion") and not _all(driver, "#schedule-deletion")
    driver.save_screenshot(str(shots / "key.png"))

    # A secret: created here, its value hidden until revealed, in place (htmx).
    name = unique("console/db")
    value = unique("pw")
    driver.get(f"{base_url}/console/secrets")
    _by(driver, "details.panel summary").click()
    _by(driver, '#create-secret input[name="SecretName"]').send_keys(name)
    _by(driver, '#create-secret textarea[name="SecretData"]').send_keys(value)
    _by(driver, '#create-secret button[type="submit"]').click()
    _wait(lambda: "/console/secret?" in driver.current_url, "the secret's page")
    assert value not in driver.page_source
    assert "ACSCurrent" in _by(driver, "#versions").text
    _by(driver, "button.reveal").click()
    _wait(lambda: _all(driver, "#secret-value"), "the revealed value")
    assert _by(driver, "#secret-value").text == value
    assert urlparse(driver.current_url).path == "/console/secret"  # swapped in place
    driver.save_screenshot(str(shots / "secret.png"))
    _no_csp_violations(driver)

    # The reveal is one audit record: who, which secret, which version; never the value.
    reveals = [
        r
        for r in find(console_server.data_dir, "--secret", name)
        if r["gateway"] == "console" and r["action"] == "RevealSecretValue"
    ]
    assert len(reveals) == 1
    assert (reveals[0]["principal"], reveals[0]["secret_version_id"]) == (
        f"acs:ram::{_account(console_server)}:root",
        "v1",
    )
    audit = b"".join(p.read_bytes() for p in (console_server.data_dir / "audit").rglob("*.jsonl"))
    assert value.encode() not in audit
    assert value not in console_server.log_path.read_text()

    # The other main pages render for the administrator.
    for path, shot in (
        ("/console/ram/users", "users.png"),
        ("/console/instances", None),
        ("/console/audit", "audit.png"),
    ):
        driver.get(f"{base_url}{path}")
        assert _all(driver, "table.list")
        if shot:
            driver.save_screenshot(str(shots / shot))

    # Sign out: back to the sign-in page, and the console is closed to this browser.
    _by(driver, "#sign-out").click()
    _wait(lambda: urlparse(driver.current_url).path == "/console/sign-in", "the sign-in page")
    driver.get(f"{base_url}/console/keys")
    assert urlparse(driver.current_url).path == "/console/sign-in"


def _account(server: ServerProcess) -> str:
    from mamori.config import Settings

    return Settings().account_id


def test_crypto_user_sees_no_ram_pages_and_cannot_schedule_deletion(
    browser: Any,
    base_url: str,
    crypto_user: Identity,
    console_server: ServerProcess,
    admin_kms: Any,
) -> None:
    key_id = admin_kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    driver = browser
    _sign_in(driver, base_url, crypto_user)

    assert crypto_user.name in _by(driver, ".principal").text
    assert _all(driver, "#nav-keys") and not _all(driver, "#nav-ram")
    assert not _all(driver, "#nav-audit")
    assert not _all(driver, "#create-key-panel")  # CreateKey is not among its actions

    # The RAM pages refuse it with the API's own answer.
    driver.get(f"{base_url}/console/ram/users")
    assert "Forbidden.NoPermission" in _by(driver, "#api-error").text
    assert "ram:ListUsers" in _by(driver, "#api-error").text

    # The key is visible, but there is no button to schedule its deletion ...
    driver.get(f"{base_url}/console/keys/{key_id}")
    assert "Enabled" in _by(driver, "h1").text
    assert not _all(driver, "#schedule-deletion")
    assert not _all(driver, "#disable-key")

    # ... and the POST the button would send is refused as the API refuses it.
    client, csrf = sign_in(console_server, crypto_user)
    try:
        answer = client.post(
            f"/console/keys/{key_id}/schedule-deletion",
            data={"csrf": csrf, "PendingWindowInDays": "7"},
        )
    finally:
        client.close()
    assert answer.status_code == 403
    assert "Forbidden.NoPermission" in answer.text
    assert "kms:ScheduleKeyDeletion" in answer.text
    state = admin_kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body
    assert state.key_metadata.key_state == "Enabled"
    _by(driver, "#sign-out").click()


def _submit(driver: Any, css: str) -> None:
    """Press a button and wait for the page it leads to."""
    old = _by(driver, "html")
    _by(driver, css).click()
    _wait(lambda: not _is_attached(old), "the next page")


def _is_attached(element: Any) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.tag_name  # noqa: B018 - touching it is the test
    except StaleElementReferenceException:
        return False
    except WebDriverException as exc:
        # Touched while the next page replaces the document, Chrome answers this instead of
        # "stale element" (seen on a loaded machine): the old page is gone all the same.
        if "does not belong to the document" in str(exc):
            return False
        raise
    return True


def test_admin_edits_aliases_tags_the_key_policy_and_a_users_access_keys(
    browser: Any,
    base_url: str,
    admin: Identity,
    admin_kms: Any,
    admin_ram: Any,
    console_server: ServerProcess,
    shots: Path,
) -> None:
    from alibabacloud_ram20150501 import models as rm

    from mamori.client import Client, MamoriError

    key_id = admin_kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    driver = browser
    _sign_in(driver, base_url, admin)
    driver.get(f"{base_url}/console/keys/{key_id}")

    # An alias: added, refused with the API's code when the name is not one, deleted.
    alias = f"alias/{unique('console')}"
    _by(driver, '#add-alias input[name="AliasName"]').send_keys(alias)
    _submit(driver, '#add-alias button[type="submit"]')
    assert _by(driver, "#flash").text == f"Added {alias} to {key_id}."
    assert alias in _by(driver, "#aliases").text
    _by(driver, '#add-alias input[name="AliasName"]').send_keys("not an alias")
    _submit(driver, '#add-alias button[type="submit"]')
    assert "InvalidParameter" in _by(driver, "#api-error").text
    assert 'The specified parameter "AliasName" is not valid.' in _by(driver, "#api-error").text
    driver.get(f"{base_url}/console/keys/{key_id}")

    # A tag, added and then removed.
    _by(driver, '#add-tag input[name="TagKey"]').send_keys("team")
    _by(driver, '#add-tag input[name="TagValue"]').send_keys("payments")
    _submit(driver, '#add-tag button[type="submit"]')
    assert _by(driver, "#flash").text == f"Tagged {key_id} team=payments."
    assert "team" in _by(driver, "#tags").text and "payments" in _by(driver, "#tags").text

    # The key policy, edited in place: a malformed one is refused with the API's code.
    policy = json.loads(_by(driver, "#key-policy").get_attribute("value"))
    policy["Statement"][0]["Sid"] = "Edited in the console"
    editor = _by(driver, "#key-policy")
    editor.clear()
    editor.send_keys(json.dumps(policy))
    _submit(driver, "#save-policy")
    assert _by(driver, "#flash").text == f"Saved the key policy of {key_id}."
    driver.execute_script(
        "[...document.querySelectorAll('h2')].find(h => h.textContent == 'Aliases')"
        ".scrollIntoView()"
    )
    driver.save_screenshot(str(shots / "key-edits.png"))
    stored = admin_kms.get_key_policy(km.GetKeyPolicyRequest(key_id=key_id, policy_name="default"))
    assert json.loads(stored.body.policy)["Statement"][0]["Sid"] == "Edited in the console"
    editor = _by(driver, "#key-policy")
    editor.clear()
    editor.send_keys("{")
    _submit(driver, "#save-policy")
    assert "MalformedPolicyDocument" in _by(driver, "#api-error").text
    driver.get_log("browser")  # the two refusals' 400s, logged as errors: read and forgotten
    driver.get(f"{base_url}/console/keys/{key_id}")

    _submit(driver, '#tags button[type="submit"]')
    assert _by(driver, "#flash").text == f"Removed tag team from {key_id}."
    assert not _all(driver, "#tags")
    _submit(driver, '#aliases button[type="submit"]')
    assert _by(driver, "#flash").text == f"Deleted {alias}."
    assert not _all(driver, "#aliases")

    # A RAM user's AccessKey: created, its secret shown once and working, then deleted.
    user = unique("console-ak")
    admin_ram.create_user(rm.CreateUserRequest(user_name=user))
    driver.get(f"{base_url}/console/ram/users/{user}")
    _submit(driver, "#create-access-key")
    new_id = _by(driver, "#new-access-key-id").text
    new_secret = _by(driver, "#new-access-key-secret").text
    driver.save_screenshot(str(shots / "access-key-created.png"))
    with Client(console_server.endpoint, new_id, new_secret, protocol="http") as api:
        # Signed correctly: the user, with no policy, is refused by authorization, not by
        # the signature check.
        with pytest.raises(MamoriError) as refused:
            api.call("ListKeys")
        assert refused.value.code == "Forbidden.NoPermission"
    _by(driver, "#back-to-user").click()
    _wait(lambda: _all(driver, "#access-keys"), "the user's page")
    assert new_id in _by(driver, "#access-keys").text
    assert new_secret not in driver.page_source  # never again
    _submit(driver, f'tr[data-access-key-id="{new_id}"] button[type="submit"]')
    assert _by(driver, "#flash").text == f"Deleted AccessKey {new_id} of {user}."
    assert new_id not in _by(driver, "#access-keys").text
    assert new_secret not in console_server.log_path.read_text()
    _no_csp_violations(driver)
    _by(driver, "#sign-out").click()
