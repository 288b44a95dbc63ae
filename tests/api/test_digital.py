"""/accounts/api/ (surface digital, seed 000): tokens, register, profile, change-password,
email verification, availability checks. The dashboard endpoints come with a later issue.

Decisions behind the expected bodies: docs/surfaces/digital.md.
"""

import base64
import email
import email.policy
import re
import time
from pathlib import Path

import pytest

from shopdtest import (claims_for, decode_token, expect, forge_token, http, strong_password,
                       unique_email, unique_hex)

BASE = "/accounts/api/"
TOKEN = BASE + "token/"
REFRESH = BASE + "token/refresh/"
VERIFY = BASE + "token/verify/"
REGISTER = BASE + "register/"
PROFILE = BASE + "profile/"
CHANGE_PASSWORD = BASE + "change-password/"
SEND_VERIFICATION = BASE + "send-verification/"
RESEND_VERIFICATION = BASE + "resend-verification/"
VERIFICATION_STATUS = BASE + "verification-status/"
CHECK_USERNAME = BASE + "check-username/"
CHECK_EMAIL = BASE + "check-email/"

V1_REGISTER = "/api/v1/auth/register/"
V1_LOGIN = "/api/v1/auth/login/"


def verify_email_path(uid, token):
    return f"{BASE}verify-email/{uid}/{token}/"


REQUIRED = ["This field is required."]
BLANK = ["This field may not be blank."]
INVALID_EMAIL = ["Enter a valid email address."]
INVALID_USERNAME = ["Enter a valid username. This value may contain only letters, numbers, "
                    "and @/./+/-/_ characters."]
TOO_LONG = ["Ensure this field has no more than 150 characters."]
MISMATCH = ["Password fields didn't match."]
TOO_SHORT = "This password is too short. It must contain at least 8 characters."
TOO_COMMON = "This password is too common."
ENTIRELY_NUMERIC = "This password is entirely numeric."

NO_ACCOUNT = {"detail": "No active account found with the given credentials"}
TOKEN_INVALID = {"detail": "Token is invalid or expired", "code": "token_not_valid"}
TOKEN_BLACKLISTED = {"detail": "Token is blacklisted", "code": "token_not_valid"}
TOKEN_WRONG_TYPE = {"detail": "Token has wrong type", "code": "token_not_valid"}

NOT_AUTHENTICATED = {"error": "Authentication credentials were not provided.",
                     "details": {"code": "not_authenticated"}}
REGISTERED = "User registered successfully. Please check your email to verify your account."
RESEND_NEUTRAL = {"message": "If an account with this email exists and is not yet verified, "
                             "a verification email has been sent."}
BAD_LINK = {"error": "Invalid or expired verification link.", "details": {}}
ALREADY_VERIFIED = {"error": "Email is already verified.", "details": {}}

USER_KEYS = {"id", "username", "email", "first_name", "last_name", "email_verified",
             "date_joined", "last_login"}
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
JWT_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
LINK_RE = re.compile(r"/verify-email\?uid=([A-Za-z0-9_-]+)&(?:amp;)?token=([A-Za-z0-9-]+)")


def invalid(details):
    return {"error": "Invalid input.", "details": details}


def access_refused(message="Token is invalid or expired"):
    return {"error": "Given token not valid for any token type",
            "details": {"code": "token_not_valid",
                        "messages": [{"token_class": "AccessToken", "token_type": "access",
                                      "message": message}]}}


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def unique_username(prefix="user"):
    return f"{prefix}_{unique_hex(10)}"


# ---------------------------------------------------------------------------
# Mail: the harness's mailbox fixture, or (until it lands) the server's file:// mail dir
# ---------------------------------------------------------------------------

class _FileMailbox:
    """What the harness's mailbox offers (wait_for), read from the .eml files that a
    file:// SHOPD_MAIL_URL writes. Each message is returned once."""

    def __init__(self, server):
        self.dir = Path(server.mail_dir)
        self.seen = set()

    def wait_for(self, to, subject_contains=None, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            for path in sorted(self.dir.glob("*.eml")):
                if path in self.seen:
                    continue
                msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if msg["To"].strip().lower() != to.lower():
                    continue
                if subject_contains and subject_contains not in msg["Subject"]:
                    continue
                self.seen.add(path)
                return msg
            if time.monotonic() > deadline:
                raise AssertionError(f"no email to {to} within {timeout}s")
            time.sleep(0.05)


@pytest.fixture
def mail(request, server):
    try:
        return request.getfixturevalue("mailbox")
    except pytest.FixtureLookupError:
        return _FileMailbox(server)


def mail_text(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def verification_link(mail, to):
    """(uid, token) of the next verification email to `to`."""
    msg = mail.wait_for(to, subject_contains="Verify")
    m = LINK_RE.search(mail_text(msg))
    assert m, mail_text(msg)
    return m.group(1), m.group(2)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def reg_body(username=None, email_=None, password=None, **extra):
    password = password or strong_password()
    body = {"username": unique_username() if username is None else username,
            "email": unique_email() if email_ is None else email_,
            "password": password, "password2": password}
    body.update(extra)
    return body


def register(api, **kw):
    """Registers here; returns (request body, response body)."""
    body = reg_body(**kw)
    return body, expect(api.post(REGISTER, json=body), 201)


def obtain(api, username, password):
    return expect(api.post(TOKEN, json={"username": username, "password": password}), 200)


def profile(api, access):
    return expect(api.get(PROFILE, headers=auth(access)), 200)


def assert_user(user, username, email_, first_name="", last_name="", verified=False):
    assert set(user) == USER_KEYS, user
    assert isinstance(user["id"], int) and not isinstance(user["id"], bool)
    assert DATE_RE.match(user["date_joined"]), user
    assert user["last_login"] is None or DATE_RE.match(user["last_login"]), user
    assert {k: user[k] for k in ("username", "email", "first_name", "last_name",
                                 "email_verified")} == {
        "username": username, "email": email_, "first_name": first_name,
        "last_name": last_name, "email_verified": verified}


def assert_pair(body):
    assert set(body) == {"refresh", "access"}, body
    assert decode_token(body["access"])[1]["token_type"] == "access"
    assert decode_token(body["refresh"])[1]["token_type"] == "refresh"


@pytest.fixture
def account(api):
    """A fresh user registered on this surface: (body sent, 201 answer)."""
    return register(api)


# ---------------------------------------------------------------------------
# token/
# ---------------------------------------------------------------------------

def test_token_obtain_by_username(api, account):
    sent, reg = account
    body = obtain(api, sent["username"], sent["password"])
    assert_pair(body)
    assert list(body) == ["refresh", "access"]  # simplejwt's order
    assert decode_token(body["access"])[1]["user_id"] == reg["user"]["id"]
    assert profile(api, body["access"])["username"] == sent["username"]


def test_token_obtain_username_case_insensitive(api, account):
    sent, _ = account
    assert_pair(obtain(api, sent["username"].upper(), sent["password"]))


def test_token_obtain_by_email_value(api, account):
    sent, _ = account
    assert_pair(obtain(api, sent["email"].upper(), sent["password"]))


def test_token_obtain_email_key(api, account):
    sent, _ = account
    r = api.post(TOKEN, json={"email": sent["email"], "password": sent["password"]})
    assert_pair(expect(r, 200))


def test_token_obtain_unverified_user_allowed(api, account):
    sent, reg = account
    assert reg["user"]["email_verified"] is False
    assert_pair(obtain(api, sent["username"], sent["password"]))


@pytest.mark.parametrize("which", ["wrong-password", "unknown-user"])
def test_token_obtain_bad_credentials(api, account, which):
    sent, _ = account
    body = ({"username": sent["username"], "password": sent["password"] + "x"}
            if which == "wrong-password"
            else {"username": unique_username(), "password": sent["password"]})
    r = api.post(TOKEN, json=body)
    assert expect(r, 401) == NO_ACCOUNT
    assert r.headers.get("WWW-Authenticate") == 'Bearer realm="api"'


def test_token_obtain_missing_fields(api):
    assert expect(api.post(TOKEN, json={}), 400) == {"username": REQUIRED, "password": REQUIRED}
    assert expect(api.post(TOKEN, json={"username": "", "password": ""}), 400) == {
        "username": BLANK, "password": BLANK}


def test_token_obtain_ignores_authorization(api, account):
    sent, _ = account
    r = api.post(TOKEN, json={"username": sent["username"], "password": sent["password"]},
                 headers=auth("garbage"))
    assert_pair(expect(r, 200))


def test_token_obtain_form_body(api, account):
    sent, _ = account
    r = api.post(TOKEN, data={"username": sent["username"], "password": sent["password"]})
    assert_pair(expect(r, 200))


# ---------------------------------------------------------------------------
# token/refresh/
# ---------------------------------------------------------------------------

def test_token_refresh_rotates(api, account):
    sent, reg = account
    r = api.post(REFRESH, json={"refresh": reg["refresh"]})
    body = expect(r, 200)
    assert list(body) == ["access", "refresh"]
    assert body["refresh"] != reg["refresh"]
    assert profile(api, body["access"])["id"] == reg["user"]["id"]
    # The used token is blacklisted; the rotated one works once.
    assert expect(api.post(REFRESH, json={"refresh": reg["refresh"]}), 401) == TOKEN_BLACKLISTED


def test_token_refresh_errors(api, account):
    _, reg = account
    assert expect(api.post(REFRESH, json={}), 400) == {"refresh": REQUIRED}
    assert expect(api.post(REFRESH, json={"refresh": ""}), 400) == {"refresh": BLANK}
    assert expect(api.post(REFRESH, json={"refresh": "not.a.token"}), 401) == TOKEN_INVALID
    assert expect(api.post(REFRESH, json={"refresh": reg["access"]}), 401) == TOKEN_WRONG_TYPE
    expired = forge_token(claims_for(reg["user"]["id"], "refresh", now=time.time() - 10**6))
    assert expect(api.post(REFRESH, json={"refresh": expired}), 401) == TOKEN_INVALID
    other_key = forge_token(claims_for(reg["user"]["id"], "refresh"), key="another-key")
    r = api.post(REFRESH, json={"refresh": other_key})
    assert expect(r, 401) == TOKEN_INVALID
    assert r.headers.get("WWW-Authenticate") == 'Bearer realm="api"'


# ---------------------------------------------------------------------------
# token/verify/
# ---------------------------------------------------------------------------

def test_token_verify_valid_tokens(api, account):
    _, reg = account
    assert expect(api.post(VERIFY, json={"token": reg["access"]}), 200) == {}
    assert expect(api.post(VERIFY, json={"token": reg["refresh"]}), 200) == {}


def test_token_verify_ignores_authorization(api, account):
    _, reg = account
    r = api.post(VERIFY, json={"token": reg["access"]}, headers=auth("garbage"))
    assert expect(r, 200) == {}


def test_token_verify_foreign_issuer_same_key(api, account):
    # A token a Django service holding the same key issued (uuid4 jti).
    _, reg = account
    token = forge_token(claims_for(reg["user"]["id"]))
    assert expect(api.post(VERIFY, json={"token": token}), 200) == {}


@pytest.mark.parametrize("kind", ["garbage", "expired", "other-key", "alg-none", "unknown-user"])
def test_token_verify_invalid(api, account, kind):
    _, reg = account
    uid = reg["user"]["id"]
    token = {
        "garbage": "abc.def.ghi",
        "expired": forge_token(claims_for(uid, now=time.time() - 10**5)),
        "other-key": forge_token(claims_for(uid), key="not-the-key"),
        "alg-none": forge_token(claims_for(uid), alg="none"),
        "unknown-user": forge_token(claims_for(10**9)),
    }[kind]
    assert expect(api.post(VERIFY, json={"token": token}), 401) == TOKEN_INVALID


def test_token_verify_missing(api):
    assert expect(api.post(VERIFY, json={}), 400) == {"token": REQUIRED}
    assert expect(api.post(VERIFY, json={"token": ""}), 400) == {"token": BLANK}


def test_token_verify_after_password_change(api, account):
    sent, reg = account
    new = strong_password()
    expect(api.post(CHANGE_PASSWORD, headers=auth(reg["access"]),
                    json={"old_password": sent["password"], "new_password": new}), 200)
    assert expect(api.post(VERIFY, json={"token": reg["access"]}), 401) == TOKEN_INVALID
    assert expect(api.post(VERIFY, json={"token": reg["refresh"]}), 401) == TOKEN_INVALID


def test_token_verify_blacklisted_refresh(api, account):
    _, reg = account
    expect(api.post(REFRESH, json={"refresh": reg["refresh"]}), 200)
    assert expect(api.post(VERIFY, json={"token": reg["refresh"]}), 401) == TOKEN_BLACKLISTED


# ---------------------------------------------------------------------------
# register/
# ---------------------------------------------------------------------------

def test_register_201(api, mail):
    sent = reg_body(first_name="Ada", last_name="Lovelace")
    body = expect(api.post(REGISTER, json=sent), 201)
    assert set(body) == {"message", "user", "refresh", "access"}, body
    assert body["message"] == REGISTERED
    assert_user(body["user"], sent["username"], sent["email"], "Ada", "Lovelace")
    assert body["user"]["last_login"] is None
    assert_pair({"refresh": body["refresh"], "access": body["access"]})
    # The tokens are good at once (unverified users are not refused here).
    assert profile(api, body["access"]) == body["user"]
    # The verification email arrived, and its link verifies the address here.
    uid, token = verification_link(mail, sent["email"])
    r = api.get(verify_email_path(uid, token))
    assert expect(r, 200) == {"message": "Email verified successfully.", "email": sent["email"],
                              "email_verified": True}
    assert profile(api, body["access"])["email_verified"] is True


@pytest.mark.parametrize("confirm_key", ["password2", "password_confirm", None])
def test_register_confirmation_names(api, confirm_key):
    sent = reg_body()
    del sent["password2"]
    if confirm_key:
        sent[confirm_key] = sent["password"]
    assert expect(api.post(REGISTER, json=sent), 201)["user"]["username"] == sent["username"]


@pytest.mark.parametrize("confirm_key", ["password2", "password_confirm"])
def test_register_password_mismatch(api, confirm_key):
    sent = reg_body()
    del sent["password2"]
    sent[confirm_key] = sent["password"] + "-other"
    assert expect(api.post(REGISTER, json=sent), 400) == invalid({confirm_key: MISMATCH})


def test_register_without_username_uses_email(api):
    sent = reg_body()
    del sent["username"]
    body = expect(api.post(REGISTER, json=sent), 201)
    assert body["user"]["username"] == sent["email"]
    assert_pair(obtain(api, sent["email"], sent["password"]))


def test_register_missing_fields(api):
    assert expect(api.post(REGISTER, json={}), 400) == invalid(
        {"email": REQUIRED, "password": REQUIRED})


def test_register_blank_fields(api):
    sent = reg_body(username="", email_="")
    assert expect(api.post(REGISTER, json=sent), 400) == invalid(
        {"username": BLANK, "email": BLANK})


def test_register_invalid_email(api):
    assert expect(api.post(REGISTER, json=reg_body(email_="not-an-email")), 400) == invalid(
        {"email": INVALID_EMAIL})


@pytest.mark.parametrize("username,message", [
    ("has space", INVALID_USERNAME),
    ("semi;colon", INVALID_USERNAME),
    ("x" * 151, TOO_LONG),
])
def test_register_invalid_username(api, username, message):
    assert expect(api.post(REGISTER, json=reg_body(username=username)), 400) == invalid(
        {"username": message})


def test_register_username_allowed_characters(api):
    username = f"a.b+c-d_e@{unique_hex(6)}"
    assert expect(api.post(REGISTER, json=reg_body(username=username)), 201)["user"][
        "username"] == username
    unicode_name = f"José_{unique_hex(6)}"
    assert expect(api.post(REGISTER, json=reg_body(username=unicode_name)), 201)["user"][
        "username"] == unicode_name


def test_register_name_too_long(api):
    sent = reg_body(first_name="x" * 151, last_name="y" * 151)
    assert expect(api.post(REGISTER, json=sent), 400) == invalid(
        {"first_name": TOO_LONG, "last_name": TOO_LONG})


@pytest.mark.parametrize("password,message", [
    ("short1", TOO_SHORT), ("12345678901", ENTIRELY_NUMERIC), ("password", TOO_COMMON)])
def test_register_weak_password(api, password, message):
    body = expect(api.post(REGISTER, json=reg_body(password=password)), 400)
    assert body["error"] == "Invalid input."
    assert set(body["details"]) == {"password"}
    assert message in body["details"]["password"]


def test_register_duplicates(api, account):
    sent, _ = account
    r = api.post(REGISTER, json=reg_body(email_=sent["email"].upper()))
    assert expect(r, 400) == invalid({"email": ["A user with this email already exists."]})
    r = api.post(REGISTER, json=reg_body(username=sent["username"].upper()))
    assert expect(r, 400) == invalid({"username": ["A user with that username already exists."]})


def test_register_not_json_object(api):
    r = api.post(REGISTER, json=["a"])
    assert r.status_code == 400


def test_register_logs_in_through_v1(api, account):
    sent, reg = account
    body = expect(api.post(V1_LOGIN, json={"email": sent["email"], "password": sent["password"]}),
                  200)
    assert body["data"]["user"]["id"] == reg["user"]["id"]


# ---------------------------------------------------------------------------
# profile/
# ---------------------------------------------------------------------------

def test_profile_requires_auth(api):
    r = api.get(PROFILE)
    assert expect(r, 401) == NOT_AUTHENTICATED
    assert r.headers.get("WWW-Authenticate") == 'Bearer realm="api"'
    assert expect(api.get(PROFILE, headers=auth("abc.def.ghi")), 401) == access_refused()
    assert expect(api.patch(PROFILE, json={}), 401) == NOT_AUTHENTICATED
    assert expect(api.put(PROFILE, json={}), 401) == NOT_AUTHENTICATED


def test_profile_refresh_token_refused(api, account):
    _, reg = account
    assert expect(api.get(PROFILE, headers=auth(reg["refresh"])), 401) == access_refused(
        "Token has wrong type")


def test_profile_bad_header(api):
    r = api.get(PROFILE, headers={"Authorization": "Bearer"})
    assert expect(r, 401) == {"error": "Authorization header must contain two space-delimited "
                                       "values", "details": {"code": "bad_authorization_header"}}


def test_profile_get(api, account):
    sent, reg = account
    body = profile(api, reg["access"])
    assert_user(body, sent["username"], sent["email"])
    assert body == reg["user"]


def test_profile_last_login_after_token(api, account):
    sent, reg = account
    access = obtain(api, sent["username"], sent["password"])["access"]
    assert DATE_RE.match(profile(api, access)["last_login"])


def test_profile_patch(api, account):
    sent, reg = account
    r = api.patch(PROFILE, headers=auth(reg["access"]),
                  json={"first_name": "  Grace ", "id": 999999, "email_verified": True,
                        "date_joined": "2000-01-01T00:00:00Z"})
    body = expect(r, 200)
    assert_user(body, sent["username"], sent["email"], first_name="Grace")
    assert body["id"] == reg["user"]["id"]
    assert body["date_joined"] == reg["user"]["date_joined"]
    assert profile(api, reg["access"]) == body


def test_profile_put(api, account):
    _, reg = account
    new_username = unique_username("renamed")
    r = api.put(PROFILE, headers=auth(reg["access"]),
                json={"username": new_username, "email": reg["user"]["email"],
                      "first_name": "A", "last_name": "B"})
    assert_user(expect(r, 200), new_username, reg["user"]["email"], "A", "B")
    assert profile(api, reg["access"])["username"] == new_username


def test_profile_put_requires_username_and_email(api, account):
    _, reg = account
    r = api.put(PROFILE, headers=auth(reg["access"]), json={"first_name": "A"})
    assert expect(r, 400) == invalid({"username": REQUIRED, "email": REQUIRED})
    assert profile(api, reg["access"])["first_name"] == ""


def test_profile_invalid_values(api, account):
    _, reg = account
    r = api.patch(PROFILE, headers=auth(reg["access"]),
                  json={"username": "bad name", "email": "nope", "last_name": "z" * 151})
    body = expect(r, 400)
    assert body["error"] == "Invalid input."
    assert body["details"]["username"] == INVALID_USERNAME
    assert body["details"]["last_name"] == TOO_LONG
    # Nothing was written.
    assert profile(api, reg["access"]) == reg["user"]
    r = api.patch(PROFILE, headers=auth(reg["access"]), json={"email": "nope"})
    assert expect(r, 400) == invalid({"email": INVALID_EMAIL})
    r = api.patch(PROFILE, headers=auth(reg["access"]), json={"username": ""})
    assert expect(r, 400) == invalid({"username": BLANK})


def test_profile_taken_values(api, account):
    _, reg = account
    other_sent, other = register(api)
    r = api.patch(PROFILE, headers=auth(reg["access"]),
                  json={"username": other_sent["username"].upper()})
    assert expect(r, 400) == invalid({"username": ["A user with that username already exists."]})
    r = api.patch(PROFILE, headers=auth(reg["access"]), json={"email": other_sent["email"]})
    assert expect(r, 400) == invalid({"email": ["This email is already in use."]})
    # The user's own values are not "taken".
    r = api.patch(PROFILE, headers=auth(reg["access"]),
                  json={"username": reg["user"]["username"], "email": reg["user"]["email"]})
    assert expect(r, 200) == reg["user"]
    # And the other user is untouched.
    assert profile(api, other["access"]) == other["user"]


def test_profile_is_the_callers_own(api, account):
    _, a = account
    _, b = register(api)
    expect(api.patch(PROFILE, headers=auth(a["access"]), json={"first_name": "Alice"}), 200)
    assert profile(api, b["access"])["first_name"] == ""
    assert profile(api, b["access"])["id"] == b["user"]["id"]


def test_profile_email_change_needs_new_verification(api, mail, account):
    sent, reg = account
    uid, token = verification_link(mail, sent["email"])
    expect(api.get(verify_email_path(uid, token)), 200)
    new_email = unique_email("moved")
    body = expect(api.patch(PROFILE, headers=auth(reg["access"]), json={"email": new_email}), 200)
    assert (body["email"], body["email_verified"]) == (new_email, False)
    uid, token = verification_link(mail, new_email)
    expect(api.get(verify_email_path(uid, token)), 200)
    assert profile(api, reg["access"])["email_verified"] is True


# ---------------------------------------------------------------------------
# change-password/
# ---------------------------------------------------------------------------

def test_change_password(api, account):
    sent, reg = account
    new = strong_password()
    r = api.post(CHANGE_PASSWORD, headers=auth(reg["access"]),
                 json={"old_password": sent["password"], "new_password": new,
                       "new_password2": new})
    body = expect(r, 200)
    assert set(body) == {"message", "refresh", "access"}
    assert body["message"] == "Password changed successfully."
    # The new pair works; everything issued before the change does not.
    assert profile(api, body["access"])["id"] == reg["user"]["id"]
    assert expect(api.get(PROFILE, headers=auth(reg["access"])), 401) == access_refused()
    assert expect(api.post(REFRESH, json={"refresh": reg["refresh"]}), 401) == TOKEN_INVALID
    expect(api.post(REFRESH, json={"refresh": body["refresh"]}), 200)
    # The old password is gone, the new one logs in (here and on v1).
    assert expect(api.post(TOKEN, json={"username": sent["username"],
                                        "password": sent["password"]}), 401) == NO_ACCOUNT
    assert_pair(obtain(api, sent["username"], new))
    expect(api.post(V1_LOGIN, json={"email": sent["email"], "password": new}), 200)


@pytest.mark.parametrize("confirm_key", ["new_password2", "new_password_confirm",
                                         "confirm_password"])
def test_change_password_mismatch(api, account, confirm_key):
    sent, reg = account
    r = api.post(CHANGE_PASSWORD, headers=auth(reg["access"]),
                 json={"old_password": sent["password"], "new_password": strong_password(),
                       confirm_key: strong_password()})
    assert expect(r, 400) == invalid({confirm_key: MISMATCH})
    assert_pair(obtain(api, sent["username"], sent["password"]))


def test_change_password_wrong_old(api, account):
    sent, reg = account
    r = api.post(CHANGE_PASSWORD, headers=auth(reg["access"]),
                 json={"old_password": sent["password"] + "x", "new_password": strong_password()})
    assert expect(r, 400) == invalid({"old_password": ["Old password is incorrect."]})
    assert profile(api, reg["access"])["id"] == reg["user"]["id"]


def test_change_password_weak(api, account):
    sent, reg = account
    r = api.post(CHANGE_PASSWORD, headers=auth(reg["access"]),
                 json={"old_password": sent["password"], "new_password": "123"})
    body = expect(r, 400)
    assert body["error"] == "Invalid input."
    assert set(body["details"]) == {"new_password"}
    assert TOO_SHORT in body["details"]["new_password"]
    assert_pair(obtain(api, sent["username"], sent["password"]))


def test_change_password_missing_and_auth(api, account):
    _, reg = account
    r = api.post(CHANGE_PASSWORD, headers=auth(reg["access"]), json={})
    assert expect(r, 400) == invalid({"old_password": REQUIRED, "new_password": REQUIRED})
    assert expect(api.post(CHANGE_PASSWORD, json={}), 401) == NOT_AUTHENTICATED


# ---------------------------------------------------------------------------
# send-verification/, verify-email/, resend-verification/, verification-status/
# ---------------------------------------------------------------------------

def test_verification_flow(api, mail, account):
    sent, reg = account
    status = expect(api.get(VERIFICATION_STATUS, headers=auth(reg["access"])), 200)
    assert status == {"email": sent["email"], "email_verified": False}
    verification_link(mail, sent["email"])  # the registration email
    r = api.post(SEND_VERIFICATION, headers=auth(reg["access"]))
    assert expect(r, 200) == {"message": "Verification email sent.", "email": sent["email"]}
    uid, token = verification_link(mail, sent["email"])
    r = api.get(verify_email_path(uid, token))
    assert expect(r, 200) == {"message": "Email verified successfully.", "email": sent["email"],
                              "email_verified": True}
    status = expect(api.get(VERIFICATION_STATUS, headers=auth(reg["access"])), 200)
    assert status == {"email": sent["email"], "email_verified": True}
    # Verified: nothing more to send, and the link is spent.
    assert expect(api.post(SEND_VERIFICATION, headers=auth(reg["access"])), 400) == \
        ALREADY_VERIFIED
    assert expect(api.get(verify_email_path(uid, token)), 400) == BAD_LINK


def test_verification_endpoints_require_auth(api):
    assert expect(api.post(SEND_VERIFICATION), 401) == NOT_AUTHENTICATED
    assert expect(api.get(VERIFICATION_STATUS), 401) == NOT_AUTHENTICATED


def test_verify_email_bad_links(api, mail, account):
    sent, reg = account
    uid, token = verification_link(mail, sent["email"])
    _, other = register(api)
    for path in [
        verify_email_path(uid, "1-abc-" + "0" * 32),              # forged
        verify_email_path(uid, "garbage"),                        # malformed
        verify_email_path("!!!", token),                          # undecodable uid
        verify_email_path("dTk5OTk5OTk5OQ", token),               # uid of nobody (u999999999)
        verify_email_path(uid, token[:-1] + ("0" if token[-1] != "0" else "1")),
    ]:
        assert expect(api.get(path), 400) == BAD_LINK, path
    # A valid token under another user's uid.
    other_uid = base64.urlsafe_b64encode(f"u{other['user']['id']}".encode()).rstrip(b"=").decode()
    assert expect(api.get(verify_email_path(other_uid, token)), 400) == BAD_LINK
    # None of that verified anybody; the real link still works.
    assert profile(api, reg["access"])["email_verified"] is False
    assert profile(api, other["access"])["email_verified"] is False
    expect(api.get(verify_email_path(uid, token)), 200)


def test_verify_email_ignores_stale_authorization(api, mail, account):
    sent, _ = account
    uid, token = verification_link(mail, sent["email"])
    r = api.get(verify_email_path(uid, token), headers=auth("stale.token.here"))
    assert expect(r, 200)["email_verified"] is True


def test_verify_email_get_only(api):
    r = api.post(verify_email_path("dTE", "1-abc-" + "0" * 32))
    assert r.status_code == 405


def test_verify_email_token_from_v1_email(api, mail):
    # Registered on another surface; the uid/token of that email work here.
    address = unique_email("v1")
    password = strong_password()
    d = expect(api.post(V1_REGISTER, json={"email": address, "password": password,
                                           "password_confirm": password}), 201)["data"]
    uid, token = verification_link(mail, address)
    r = api.get(verify_email_path(uid, token))
    assert expect(r, 200) == {"message": "Email verified successfully.", "email": address,
                              "email_verified": True}
    # That v1 user signs in here by email (its username is the email) and sees it verified.
    tokens = obtain(api, address, password)
    body = profile(api, tokens["access"])
    assert (body["id"], body["username"], body["email_verified"]) == (d["user"]["id"], address,
                                                                      True)
    assert body == profile(api, d["access_token"])


def test_resend_verification(api, mail, account):
    sent, reg = account
    verification_link(mail, sent["email"])  # the registration email
    r = api.post(RESEND_VERIFICATION, json={"email": sent["email"].upper()})
    assert expect(r, 200) == RESEND_NEUTRAL
    uid, token = verification_link(mail, sent["email"])
    expect(api.get(verify_email_path(uid, token)), 200)
    # Verified, or nobody at all: the same answer.
    assert expect(api.post(RESEND_VERIFICATION, json={"email": sent["email"]}), 200) == \
        RESEND_NEUTRAL
    assert expect(api.post(RESEND_VERIFICATION, json={"email": unique_email("nobody")}), 200) == \
        RESEND_NEUTRAL


def test_resend_verification_signed_in_without_email(api, mail, account):
    sent, reg = account
    verification_link(mail, sent["email"])
    r = api.post(RESEND_VERIFICATION, headers=auth(reg["access"]), json={})
    assert expect(r, 200) == {"message": "Verification email sent.", "email": sent["email"]}
    uid, token = verification_link(mail, sent["email"])
    expect(api.get(verify_email_path(uid, token)), 200)
    r = api.post(RESEND_VERIFICATION, headers=auth(reg["access"]), json={})
    assert expect(r, 400) == ALREADY_VERIFIED


def test_resend_verification_bad_input(api):
    assert expect(api.post(RESEND_VERIFICATION, json={}), 400) == invalid({"email": REQUIRED})
    assert expect(api.post(RESEND_VERIFICATION, json={"email": ""}), 400) == invalid(
        {"email": BLANK})
    assert expect(api.post(RESEND_VERIFICATION, json={"email": "nope"}), 400) == invalid(
        {"email": INVALID_EMAIL})


def test_resend_verification_rate_limited(make_server):
    s = make_server(SHOPD_RATE_LIMITS="digital-verification-email=2/3600")
    address = unique_email("limited")
    for _ in range(2):
        r = http("POST", s.url(RESEND_VERIFICATION), json={"email": address})
        assert expect(r, 200) == RESEND_NEUTRAL
    r = http("POST", s.url(RESEND_VERIFICATION), json={"email": address})
    body = expect(r, 429)
    assert set(body) == {"error", "details"}
    assert body["details"] == {"code": "throttled"}
    assert body["error"].startswith("Request was throttled.")
    assert int(r.headers["Retry-After"]) > 0


# ---------------------------------------------------------------------------
# check-username/, check-email/
# ---------------------------------------------------------------------------

def test_check_username(api, account):
    sent, reg = account
    free = unique_username("free")
    assert expect(api.post(CHECK_USERNAME, json={"username": free}), 200) == {
        "username": free, "available": True, "message": "Username is available."}
    taken = sent["username"].upper()
    assert expect(api.post(CHECK_USERNAME, json={"username": taken}), 200) == {
        "username": taken, "available": False, "message": "Username is already taken."}
    # Signed in, the user's own username counts as available (profile forms).
    r = api.post(CHECK_USERNAME, headers=auth(reg["access"]), json={"username": sent["username"]})
    assert expect(r, 200)["available"] is True


def test_check_username_bad_input(api):
    assert expect(api.post(CHECK_USERNAME, json={}), 400) == invalid({"username": REQUIRED})
    assert expect(api.post(CHECK_USERNAME, json={"username": " "}), 400) == invalid(
        {"username": BLANK})
    assert expect(api.post(CHECK_USERNAME, json={"username": "a b"}), 400) == invalid(
        {"username": INVALID_USERNAME})
    assert expect(api.post(CHECK_USERNAME, json={"username": "x" * 151}), 400) == invalid(
        {"username": TOO_LONG})
    assert expect(api.post(CHECK_USERNAME, json={"username": None}), 400) == invalid(
        {"username": ["This field may not be null."]})
    r = api.post(CHECK_USERNAME, json={"username": "x"}, headers=auth("abc.def.ghi"))
    assert expect(r, 401) == access_refused()


def test_check_email(api, account):
    sent, reg = account
    free = unique_email("free")
    assert expect(api.post(CHECK_EMAIL, json={"email": free}), 200) == {
        "email": free, "available": True, "message": "Email is available."}
    taken = sent["email"].upper()
    assert expect(api.post(CHECK_EMAIL, json={"email": taken}), 200) == {
        "email": taken, "available": False, "message": "Email is already registered."}
    r = api.post(CHECK_EMAIL, headers=auth(reg["access"]), json={"email": sent["email"]})
    assert expect(r, 200)["available"] is True


def test_check_email_bad_input(api):
    assert expect(api.post(CHECK_EMAIL, json={}), 400) == invalid({"email": REQUIRED})
    assert expect(api.post(CHECK_EMAIL, json={"email": ""}), 400) == invalid({"email": BLANK})
    assert expect(api.post(CHECK_EMAIL, json={"email": "a@"}), 400) == invalid(
        {"email": INVALID_EMAIL})
    assert expect(api.post(CHECK_EMAIL, json={"email": ["a@example.com"]}), 400) == invalid(
        {"email": ["Not a valid string."]})


# ---------------------------------------------------------------------------
# Bad input never crashes the server
# ---------------------------------------------------------------------------

def test_form_field_without_value_is_blank(make_server):
    # "username" alone in a form body is the field with an empty value (Django's QueryDict).
    s = make_server()
    r = http("POST", s.url(CHECK_USERNAME), data="username",
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert expect(r, 400) == invalid({"username": BLANK})
    assert http("GET", s.url("/healthz")).status_code == 200


def test_unknown_route_under_mount(api):
    assert api.get(BASE + "no-such-endpoint/").status_code == 404
    # The dashboard endpoints are not part of this issue.
    assert api.get(BASE + "dashboard/").status_code == 404


def test_trailing_slash_optional(api, account):
    _, reg = account
    assert expect(api.get(PROFILE.rstrip("/"), headers=auth(reg["access"])), 200)["id"] == \
        reg["user"]["id"]
