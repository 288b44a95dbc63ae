"""Security properties of the shared user base that cut across surfaces:

- a username that is an email address must be the user's own (nobody can claim somebody
  else's address through a username, on any surface);
- a reset link is spent once, even by concurrent requests, and a deactivation spends it;
- logout ends only the caller's own sessions (tested per surface in their modules).
"""

import threading

from shopdtest import expect, link_params, strong_password, unique_hex

SHOP_REGISTER = "/api/users/register/"
SHOP_VERIFY = "/api/users/email-verify/"
SHOP_RESET = "/api/users/password_reset/"
SHOP_CONFIRM = "/api/users/password-reset/confirm/"
DIGITAL_REGISTER = "/accounts/api/register/"


def shop_register(api, **fields):
    body = {"username": "u" + unique_hex(), "email": f"{unique_hex()}@example.com",
            "password": strong_password(), "first_name": "Ada", "last_name": "Lovelace",
            "phone_number": "+4477009" + str(int(unique_hex(6), 16) % 1000000).zfill(6),
            "birthdate": "1990-12-10"}
    body.update(fields)
    return api.post(SHOP_REGISTER, json=body), body


def verified_shop_user(api, mailbox):
    r, body = shop_register(api)
    assert r.status_code == 201, r.text
    uid, token = link_params(mailbox.wait_for(body["email"], "Verify"), "verify-email",
                             api.server.frontend_url)
    expect(api.get(SHOP_VERIFY, params={"uid": uid, "token": token}), 200)
    return body


def reset_link(api, mailbox, email):
    expect(api.post(SHOP_RESET, json={"email": email}), 200)
    return link_params(mailbox.wait_for(email, "Reset"), "reset-password", api.server.frontend_url)


def test_username_cannot_claim_someone_elses_email(api):
    target = f"future-{unique_hex()}@example.com"
    r, _ = shop_register(api, username=target)
    assert r.status_code == 400, r.text
    assert "username" in r.json().get("details", {}), r.text
    r = api.post(DIGITAL_REGISTER, json={"username": target, "email": f"{unique_hex()}@example.com",
                                         "password": strong_password()})
    assert r.status_code == 400, r.text
    # The owner of the address can still register it, anywhere.
    password = strong_password()
    r = api.post("/api/v1/auth/register/", json={"email": target, "password": password,
                                                 "password_confirm": password})
    assert r.status_code == 201, r.text


def test_username_may_be_ones_own_email(api):
    email = f"self-{unique_hex()}@example.com"
    r, _ = shop_register(api, username=email, email=email)
    assert r.status_code == 201, r.text


def test_reset_link_is_spent_once_under_concurrency(api, mailbox):
    user = verified_shop_user(api, mailbox)
    uid, token = reset_link(api, mailbox, user["email"])
    results = []

    def confirm(i):
        pw = f"Concurrent-Reset-{i}-{unique_hex(6)}"
        r = api.post(SHOP_CONFIRM, json={"uid": uid, "token": token, "new_password1": pw,
                                         "new_password2": pw})
        results.append((r.status_code, pw))

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [pw for status, pw in results if status == 200]
    assert len(winners) == 1, results
    assert all(status == 400 for status, _ in results if status != 200), results
    # The winner's password is the one that holds.
    r = api.post("/api/users/login/", json={"login": user["username"], "password": winners[0]})
    assert r.status_code == 200, r.text


def test_a_reset_link_does_not_reopen_a_deactivated_account(api, mailbox):
    user = verified_shop_user(api, mailbox)
    login = api.post("/api/accounts/login/", json={"username": user["username"],
                                                   "password": user["password"]})
    access = expect(login, 200)["data"]["access"]
    # The link is asked for after the login (a login spends earlier links).
    uid, token = reset_link(api, mailbox, user["email"])
    r = api.post("/api/accounts/deactivate/", json={"password": user["password"]},
                 headers=api.auth(access))
    assert r.status_code == 200, r.text
    pw = strong_password()
    r = api.post(SHOP_CONFIRM, json={"uid": uid, "token": token, "new_password1": pw,
                                      "new_password2": pw})
    assert expect(r, 400) == {"error": "User account is inactive"}
    r = api.post("/api/accounts/password-reset/confirm/",
                 json={"token": token, "new_password": pw, "new_password_confirm": pw})
    assert expect(r, 403)["code"] == "ACCOUNT_DISABLED"
    # The password did not change.
    r = api.post("/api/users/login/", json={"login": user["username"], "password": pw})
    assert r.status_code == 400, r.text
