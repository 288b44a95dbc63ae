"""/api/users/ and /api/token/: the users part of seed document 002 (surface `shop`).

Walks every documented request and error: register, login (username, email or phone; the
403 for unverified users), email verification by query and by path, resend (with its rate
limits), addresses, user-profile, logout, password reset and its confirmation (body, query
and legacy path forms), /api/token/ and /api/token/refresh/, and the moves between this
surface and /api/v1/auth/. Verification and reset links are followed from the real emails
the server sends.
"""

import base64
import random
import re
import time
from collections import namedtuple

import pytest

from shopdtest import (Api, Server, decode_token, expect, link_params, mail_text,
                       strong_password, unique_hex, unique_letters)

REGISTER = "/api/users/register/"
LOGIN = "/api/users/login/"
LOGOUT = "/api/users/logout/"
VERIFY = "/api/users/email-verify/"
RESEND = "/api/users/resend-verification-email/"
ADDRESSES = "/api/users/addresses/"
PROFILE = "/api/users/user-profile/"
RESET = "/api/users/password_reset/"
CONFIRM = "/api/users/password-reset/confirm/"
TOKEN = "/api/token/"
TOKEN_REFRESH = "/api/token/refresh/"

REQUIRED = ["This field is required."]
INVALID_DATA = "Invalid data provided"
INVALID_CREDENTIALS = {"error": "Invalid credentials"}
EMAIL_CONFLICT = {"error": "A user with this phone number or email already exists."}
USERNAME_CONFLICT = {"error": "A user with this username or phone number already exists."}
NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}
NO_PERMISSION = {"detail": "You do not have permission to perform this action."}
ADDRESS_NOT_FOUND = {"error": "Address not found."}
RATE_LIMITED = {"error": "Rate limit exceeded. Please try again later."}
VERIFIED = {"message": "Email verified successfully!",
            "detail": "Your account has been activated and email verified."}
RESENT = {"message": "Verification email sent successfully",
          "detail": "Please check your email for the verification link"}
RESET_DONE = {"message": "Password has been reset successfully"}
UNVERIFIED_RESET = {"error": "Please verify your email before resetting your password. Check "
                             "your inbox for the verification link or contact support if you "
                             "need assistance."}
PHONE_INVALID = ["Enter a valid phone number in international format (+919876543210)."]
DATE_INVALID = ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]
TOO_SHORT = "This password is too short. It must contain at least 8 characters."
TOO_COMMON = "This password is too common."
ENTIRELY_NUMERIC = "This password is entirely numeric."

ADDRESS = {"address_line1": "123 Main St", "city": "Anytown", "state": "Anystate",
           "country": "India", "postal_code": "123456"}
ADDRESS_FIELDS = {"id", "address_line1", "address_line2", "city", "state", "country", "postal_code"}
JWT_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


# ---------------------------------------------------------------------------
# Servers and mail
# ---------------------------------------------------------------------------
#
# Every server sends its mail over SMTP to the session's sink; the harness's `mailbox`
# fixture reads it (wait_for returns each message once: a second call gets the next one).

@pytest.fixture(scope="module")
def srv():
    """This module's server: generous rate limits, so that the many resends and resets of
    the functional tests never trip them (the rate-limit tests start servers of their own
    with the documented limits)."""
    s = Server(env={"SHOPD_RATE_LIMITS": "*=100000/60"}, name="shopd-shop")
    try:
        s.start()
        yield s
    finally:
        s.stop()


@pytest.fixture
def shop(srv):
    return Api(srv)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

Account = namedtuple("Account", "body access refresh")


def new_phone():
    return "+9190" + "".join(random.choice("0123456789") for _ in range(8))


def reg_body(**over):
    name = "user_" + unique_hex(10)
    body = {"username": name, "email": f"{name}@example.com", "password": strong_password(),
            "first_name": "New", "last_name": "User", "phone_number": new_phone(),
            "birthdate": "2000-01-01"}
    body.update(over)
    return body


def register(api, **over):
    body = reg_body(**over)
    return body, expect(api.post(REGISTER, json=body), 201)


def verify_link(mb, to):
    """(uid, token) of the next verification email to `to`."""
    return link_params(mb.wait_for(to, "Verify"), "verify-email")


def reset_link(mb, to):
    """(uid, token) of the next password reset email to `to`."""
    return link_params(mb.wait_for(to, "Reset"), "reset-password")


def verify(api, mb, to):
    uid, token = verify_link(mb, to)
    assert expect(api.get(VERIFY, params={"uid": uid, "token": token}), 200) == VERIFIED


def login(api, login_id, password):
    body = expect(api.post(LOGIN, json={"login": login_id, "password": password}), 200)
    assert set(body) == {"refresh", "access"}, body
    return body


def verified_account(api, mb, **over):
    body, _ = register(api, **over)
    verify(api, mb, body["email"])
    t = login(api, body["username"], body["password"])
    return Account(body, t["access"], t["refresh"])


def unverified_login(api, body):
    return expect(api.post(LOGIN, json={"login": body["username"], "password": body["password"]}),
                  403)


def user_id(token):
    return decode_token(token)[1]["user_id"]


def b64url(raw):
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def address_json(address_id, **fields):
    out = {"id": address_id, "address_line2": ""}
    out.update(ADDRESS)
    out.update(fields)
    return out


def add_address(api, token, **fields):
    data = dict(ADDRESS)
    data.update(fields)
    [created] = expect(api.post(ADDRESSES, json=data, headers=api.auth(token)), 201)
    return created


def profile(api, token):
    return expect(api.get(PROFILE, headers=api.auth(token)), 200)


# ---------------------------------------------------------------------------
# Register
# ---------------------------------------------------------------------------

def test_register_201_without_addresses(shop):
    body = reg_body()
    r = shop.post(REGISTER, json=body)
    assert expect(r, 201) == {
        "username": body["username"], "first_name": "New", "last_name": "User",
        "email": body["email"], "phone_number": body["phone_number"], "addresses": [],
        "birthdate": "2000-01-01"}


def test_register_201_with_addresses(shop):
    second = {"address_line1": "456 New St", "address_line2": "Flat 2", "city": "Test",
              "state": "Anystate", "country": "India", "postal_code": "654321"}
    body = reg_body(addresses=[ADDRESS, second])
    got = expect(shop.post(REGISTER, json=body), 201)
    ids = [a["id"] for a in got["addresses"]]
    assert all(isinstance(i, int) and not isinstance(i, bool) for i in ids) and ids[0] < ids[1]
    assert got == {
        "username": body["username"], "first_name": "New", "last_name": "User",
        "email": body["email"], "phone_number": body["phone_number"],
        "addresses": [address_json(ids[0]), dict(second, id=ids[1])],
        "birthdate": "2000-01-01"}


def test_register_sends_verification_email_with_prefixed_uid(shop, srv, mailbox):
    body, _ = register(shop)
    msg = mailbox.wait_for(body["email"], "Verify")
    uid, token = link_params(msg, "verify-email", srv.frontend_url)
    assert token in mail_text(msg).replace(f"token={token}", "")  # the token is shown too
    assert expect(shop.get(VERIFY, params={"uid": uid, "token": token}), 200) == VERIFIED
    # The uid is base64url of "u<id>": learn the id from a token.
    uid_id = user_id(login(shop, body["username"], body["password"])["access"])
    assert uid == b64url(f"u{uid_id}")


def test_register_email_taken_400(shop):
    body, _ = register(shop)
    again = reg_body(email=body["email"])
    assert expect(shop.post(REGISTER, json=again), 400) == EMAIL_CONFLICT
    upper = reg_body(email=body["email"].upper())
    assert expect(shop.post(REGISTER, json=upper), 400) == EMAIL_CONFLICT


def test_register_username_taken_409(shop):
    body, _ = register(shop)
    again = reg_body(username=body["username"])
    assert expect(shop.post(REGISTER, json=again), 409) == USERNAME_CONFLICT
    again = reg_body(username=body["username"].upper())
    assert expect(shop.post(REGISTER, json=again), 409) == USERNAME_CONFLICT


def test_register_phone_taken_409(shop):
    body, _ = register(shop)
    again = reg_body(phone_number=body["phone_number"])
    assert expect(shop.post(REGISTER, json=again), 409) == USERNAME_CONFLICT


def test_register_email_conflict_wins_over_username(shop):
    body, _ = register(shop)
    again = reg_body(email=body["email"], username=body["username"])
    assert expect(shop.post(REGISTER, json=again), 400) == EMAIL_CONFLICT


def test_register_missing_everything(shop):
    r = shop.post(REGISTER, json={})
    assert expect(r, 400) == {"error": INVALID_DATA, "details": {
        f: REQUIRED for f in ("username", "email", "password", "first_name", "last_name",
                              "phone_number", "birthdate")}}


@pytest.mark.parametrize("field,value,messages", [
    ("email", "not-an-email", ["Enter a valid email address."]),
    ("phone_number", "9876543210", PHONE_INVALID),
    ("phone_number", "+0123456789", PHONE_INVALID),
    ("phone_number", "+91 98765 43210", PHONE_INVALID),
    ("birthdate", "01-01-2000", DATE_INVALID),
    ("birthdate", "2000-02-30", DATE_INVALID),
    ("username", "bad name!", ["Enter a valid username. This value may contain only letters, "
                               "numbers, and @/./+/-/_ characters."]),
    ("username", "x" * 151, ["Ensure this field has no more than 150 characters."]),
    ("first_name", "", ["This field may not be blank."]),
    ("last_name", None, ["This field may not be null."]),
    ("email", ["a@example.com"], ["Not a valid string."]),
])
def test_register_field_errors(shop, field, value, messages):
    body = reg_body()
    body[field] = value
    assert expect(shop.post(REGISTER, json=body), 400) == {
        "error": INVALID_DATA, "details": {field: messages}}


@pytest.mark.parametrize("password,messages", [
    ("short1", [TOO_SHORT]),
    ("12345678901", [ENTIRELY_NUMERIC]),
    ("password", [TOO_COMMON]),
    ("123", [TOO_SHORT, TOO_COMMON, ENTIRELY_NUMERIC]),
])
def test_register_weak_password(shop, password, messages):
    # Letters only: a random hex name can share the password's digits, and Django's
    # similarity rule then adds a message of its own.
    name = "user_" + unique_letters(10)
    body = reg_body(username=name, email=f"{name}@example.com", password=password)
    got = expect(shop.post(REGISTER, json=body), 400)
    assert got["error"] == INVALID_DATA and set(got["details"]) == {"password"}, got
    assert sorted(got["details"]["password"]) == sorted(messages)


def test_register_password_similar_to_username(shop):
    body = reg_body(username="johnsmith" + unique_hex(4))
    body["password"] = body["username"] + "1"
    got = expect(shop.post(REGISTER, json=body), 400)
    assert list(got["details"]) == ["password"]
    assert got["details"]["password"][0].startswith("The password is too similar to the")


def test_register_address_errors(shop):
    body = reg_body(addresses=[ADDRESS, {"city": "x"}, 5,
                               dict(ADDRESS, address_line1="y" * 256)])
    assert expect(shop.post(REGISTER, json=body), 400) == {"error": INVALID_DATA, "details": {
        "addresses": [
            {},
            {"address_line1": REQUIRED, "state": REQUIRED, "country": REQUIRED,
             "postal_code": REQUIRED},
            {"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]},
            {"address_line1": ["Ensure this field has no more than 255 characters."]},
        ]}}
    # Nothing was written: the same user registers cleanly afterwards.
    body["addresses"] = [ADDRESS]
    got = expect(shop.post(REGISTER, json=body), 201)
    assert len(got["addresses"]) == 1


@pytest.mark.parametrize("value,message", [
    ({"address_line1": "x"}, 'Expected a list of items but got type "dict".'),
    ("123 Main St", 'Expected a list of items but got type "str".'),
    (None, "This field may not be null."),
])
def test_register_addresses_not_a_list(shop, value, message):
    body = reg_body(addresses=value)
    assert expect(shop.post(REGISTER, json=body), 400) == {
        "error": INVALID_DATA, "details": {"addresses": [message]}}


def test_register_errors_write_nothing(shop):
    body = reg_body(password="123")
    expect(shop.post(REGISTER, json=body), 400)
    body["password"] = strong_password()
    expect(shop.post(REGISTER, json=body), 201)


def test_register_ignores_a_stale_token(shop):
    body = reg_body()
    r = shop.post(REGISTER, json=body, headers=shop.auth("garbage.token.here"))
    expect(r, 201)


# ---------------------------------------------------------------------------
# Login and the 403 for unverified users
# ---------------------------------------------------------------------------

def test_login_unverified_403(shop, srv):
    body, _ = register(shop)
    got = unverified_login(shop, body)
    assert set(got) == {"error", "isUserEmailVerified", "stored_email_address",
                        "verification_token", "refresh_token", "encrypted_verification_token",
                        "action_required"}, got
    assert got["error"] == f"Please verify your email at {body['email']} before logging in."
    assert got["isUserEmailVerified"] is False
    assert got["stored_email_address"] == body["email"]
    assert got["action_required"] == "check_email_for_verification"
    assert JWT_RE.match(got["verification_token"]) and JWT_RE.match(got["refresh_token"])
    assert got["encrypted_verification_token"] == got["verification_token"]
    assert decode_token(got["verification_token"])[1]["token_type"] == "verification"
    assert decode_token(got["refresh_token"])[1]["token_type"] == "refresh"


def test_verification_token_only_for_resend(shop):
    body, _ = register(shop)
    vt = unverified_login(shop, body)["verification_token"]
    # Not an access token anywhere else.
    r = shop.get(PROFILE, headers=shop.auth(vt))
    got = expect(r, 401)
    assert got["code"] == "token_not_valid"
    assert expect(shop.get(ADDRESSES, headers=shop.auth(vt)), 401) == {
        "error": "Invalid token or user ID"}
    r = shop.post(LOGOUT, json={"refresh": "x"}, headers=shop.auth(vt))
    assert expect(r, 401)["code"] == "token_not_valid"
    assert expect(shop.post(TOKEN_REFRESH, json={"refresh": vt}), 401)["code"] == "token_not_valid"
    # But good for resend.
    got = expect(shop.post(RESEND, headers=shop.auth(vt)), 200)
    assert {k: got[k] for k in RESENT} == RESENT


def test_unverified_refresh_token_buys_nothing_protected(shop):
    body, _ = register(shop)
    rt = unverified_login(shop, body)["refresh_token"]
    pair = expect(shop.post(TOKEN_REFRESH, json={"refresh": rt}), 200)
    h = shop.auth(pair["access"])
    assert expect(shop.get(PROFILE, headers=h), 403) == NO_PERMISSION
    assert expect(shop.put(PROFILE, json={"first_name": "X"}, headers=h), 403) == NO_PERMISSION
    assert expect(shop.get(ADDRESSES, headers=h), 403) == NO_PERMISSION
    assert expect(shop.post(ADDRESSES, json=ADDRESS, headers=h), 403) == NO_PERMISSION
    # An access token of an unverified user may ask for the email again.
    expect(shop.post(RESEND, headers=h), 200)


@pytest.mark.parametrize("by", ["username", "email", "phone_number", "EMAIL", "USERNAME"])
def test_login_verified_by_username_email_or_phone(shop, mailbox, by):
    body, _ = register(shop)
    verify(shop, mailbox, body["email"])
    ident = body[by.lower()]
    if by.isupper():
        ident = ident.upper()
    got = login(shop, ident, body["password"])
    assert decode_token(got["access"])[1]["token_type"] == "access"
    assert decode_token(got["refresh"])[1]["token_type"] == "refresh"
    assert profile(shop, got["access"])["username"] == body["username"]


def test_login_invalid_credentials(shop, mailbox):
    acct = verified_account(shop, mailbox)
    for ident, password in [(acct.body["username"], "wrong-" + acct.body["password"]),
                            ("nobody_" + unique_hex(), acct.body["password"]),
                            ("nobody@example.com", "whatever123"),
                            ("+919999999999999", "whatever123")]:
        r = shop.post(LOGIN, json={"login": ident, "password": password})
        assert expect(r, 400) == INVALID_CREDENTIALS


def test_login_unverified_wrong_password_is_invalid_credentials(shop):
    body, _ = register(shop)
    r = shop.post(LOGIN, json={"login": body["username"], "password": "nope-nope-nope"})
    assert expect(r, 400) == INVALID_CREDENTIALS


def test_login_missing_fields(shop):
    assert expect(shop.post(LOGIN, json={}), 400) == {
        "error": INVALID_DATA, "details": {"login": REQUIRED, "password": REQUIRED}}
    assert expect(shop.post(LOGIN, json={"login": "x"}), 400) == {
        "error": INVALID_DATA, "details": {"password": REQUIRED}}


def test_login_inactive_account(shop, mailbox):
    acct = verified_account(shop, mailbox)
    r = shop.post("/api/accounts/deactivate/", json={"password": acct.body["password"]},
                  headers=shop.auth(acct.access))
    assert r.status_code == 200, r.text
    r = shop.post(LOGIN, json={"login": acct.body["username"], "password": acct.body["password"]})
    assert expect(r, 403) == {"error": "User account is inactive"}
    r = shop.post(TOKEN, json={"username": acct.body["username"],
                               "password": acct.body["password"]})
    assert expect(r, 403) == {"error": "User account is inactive"}


# ---------------------------------------------------------------------------
# /api/token/ and /api/token/refresh/
# ---------------------------------------------------------------------------

def test_token_obtain_and_refresh(shop, mailbox):
    acct = verified_account(shop, mailbox)
    pair = expect(shop.post(TOKEN, json={"username": acct.body["username"],
                                         "password": acct.body["password"]}), 200)
    assert set(pair) == {"refresh", "access"}
    assert profile(shop, pair["access"])["email"] == acct.body["email"]
    new = expect(shop.post(TOKEN_REFRESH, json={"refresh": pair["refresh"]}), 200)
    # As the document shows: an access token only; the client keeps its refresh token.
    assert set(new) == {"access"}
    assert profile(shop, new["access"])["email"] == acct.body["email"]
    again = expect(shop.post(TOKEN_REFRESH, json={"refresh": pair["refresh"]}), 200)
    assert profile(shop, again["access"])["email"] == acct.body["email"]
    # Logged out, it stops working.
    expect(shop.post("/api/users/logout/", json={"refresh": pair["refresh"]},
                     headers=shop.auth(new["access"])), 205)
    assert expect(shop.post(TOKEN_REFRESH, json={"refresh": pair["refresh"]}), 401) == {
        "detail": "Token is blacklisted", "code": "token_not_valid"}


def test_token_obtain_errors(shop, mailbox):
    acct = verified_account(shop, mailbox)
    r = shop.post(TOKEN, json={"username": acct.body["username"], "password": "wrong-password"})
    assert expect(r, 401) == INVALID_CREDENTIALS
    assert expect(shop.post(TOKEN, json={}), 400) == {
        "error": INVALID_DATA, "details": {"username": REQUIRED, "password": REQUIRED}}


def test_token_obtain_unverified_is_refused_like_login(shop):
    body, _ = register(shop)
    got = expect(shop.post(TOKEN, json={"username": body["username"],
                                        "password": body["password"]}), 403)
    assert got["isUserEmailVerified"] is False
    assert got["action_required"] == "check_email_for_verification"
    assert "access" not in got


def test_token_refresh_errors(shop, mailbox):
    acct = verified_account(shop, mailbox)
    assert expect(shop.post(TOKEN_REFRESH, json={}), 400) == {"refresh": REQUIRED}
    assert expect(shop.post(TOKEN_REFRESH, json={"refresh": "garbage"}), 401) == {
        "detail": "Token is invalid or expired", "code": "token_not_valid"}
    assert expect(shop.post(TOKEN_REFRESH, json={"refresh": acct.access}), 401) == {
        "detail": "Token has wrong type", "code": "token_not_valid"}


# ---------------------------------------------------------------------------
# Email verification
# ---------------------------------------------------------------------------

def test_verify_by_query_then_again(shop, mailbox):
    body, _ = register(shop)
    uid, token = verify_link(mailbox, body["email"])
    assert expect(shop.get(VERIFY, params={"uid": uid, "token": token}), 200) == VERIFIED
    # The link was spent; the user is verified.
    assert expect(shop.get(VERIFY, params={"uid": uid, "token": token}), 400) == {
        "error": "Email is already verified"}
    login(shop, body["email"], body["password"])


@pytest.mark.parametrize("path", ["/api/users/email-verify/{uid}/{token}/",
                                  "/api/users/email-verify/{uid}/{token}",
                                  "/api/users/verify-email/{uid}/{token}/"])
def test_verify_by_path(shop, mailbox, path):
    body, _ = register(shop)
    uid, token = verify_link(mailbox, body["email"])
    assert expect(shop.get(path.format(uid=uid, token=token)), 200) == VERIFIED
    login(shop, body["username"], body["password"])


def test_verify_with_legacy_uid(shop, mailbox):
    body, _ = register(shop)
    uid, token = verify_link(mailbox, body["email"])
    raw = base64.urlsafe_b64decode(uid + "=" * (-len(uid) % 4)).decode()
    assert raw.startswith("u")
    legacy = b64url(raw[1:])
    assert expect(shop.get(VERIFY, params={"uid": legacy, "token": token}), 200) == VERIFIED


def test_verify_errors(shop, mailbox):
    body, _ = register(shop)
    other, _ = register(shop)
    uid, token = verify_link(mailbox, body["email"])
    other_uid, other_token = verify_link(mailbox, other["email"])
    missing = {"error": "Missing verification parameters"}
    bad_token = {"error": "Invalid or expired verification token"}
    bad_uid = {"error": "Invalid user ID"}
    assert expect(shop.get(VERIFY), 400) == missing
    assert expect(shop.get(VERIFY, params={"uid": uid}), 400) == missing
    assert expect(shop.get(VERIFY, params={"token": token}), 400) == missing
    assert expect(shop.get(VERIFY, params={"uid": uid, "token": ""}), 400) == missing
    assert expect(shop.get(VERIFY, params={"uid": uid, "token": token[:-1] + (
        "0" if token[-1] != "0" else "1")}), 400) == bad_token
    assert expect(shop.get(VERIFY, params={"uid": uid, "token": "garbage"}), 400) == bad_token
    # A token and the uid of another user do not go together.
    assert expect(shop.get(VERIFY, params={"uid": other_uid, "token": token}), 400) == bad_token
    assert expect(shop.get(VERIFY, params={"uid": "!!!", "token": token}), 400) == bad_uid
    assert expect(shop.get(VERIFY, params={"uid": b64url("u99999999"), "token": token}),
                  400) == bad_uid
    assert expect(shop.get(VERIFY, params={"uid": b64url("uabc"), "token": token}), 400) == bad_uid
    # None of that verified anybody; the real links still work.
    unverified_login(shop, body)
    assert expect(shop.get(VERIFY, params={"uid": uid, "token": token}), 200) == VERIFIED
    assert expect(shop.get(VERIFY, params={"uid": other_uid, "token": other_token}), 200) == VERIFIED


def test_reset_token_does_not_verify(shop, mailbox):
    body, _ = register(shop)
    expect(shop.post(RESET, json={"email": body["email"]}), 200)
    uid, token = reset_link(mailbox, body["email"])
    assert expect(shop.get(VERIFY, params={"uid": uid, "token": token}), 400) == {
        "error": "Invalid or expired verification token"}


# ---------------------------------------------------------------------------
# Resend verification email
# ---------------------------------------------------------------------------

def test_resend_sends_a_working_link(shop, mailbox):
    body, _ = register(shop)
    vt = unverified_login(shop, body)["verification_token"]
    got = expect(shop.post(RESEND, headers=shop.auth(vt)), 200)
    assert set(got) == {"message", "detail", "remaining_attempts"}
    assert {k: got[k] for k in RESENT} == RESENT
    assert isinstance(got["remaining_attempts"], int)
    verify_link(mailbox, body["email"])  # the registration's
    uid, token = verify_link(mailbox, body["email"])  # the resent one
    assert expect(shop.get(VERIFY, params={"uid": uid, "token": token}), 200) == VERIFIED
    login(shop, body["username"], body["password"])


def test_resend_already_verified(shop, mailbox):
    acct = verified_account(shop, mailbox)
    r = shop.post(RESEND, headers=shop.auth(acct.access))
    assert expect(r, 400) == {"error": "Email is already verified"}


def test_resend_auth_errors(shop, forge_token):
    assert expect(shop.post(RESEND), 401) == NOT_PROVIDED
    assert expect(shop.post(RESEND, headers=shop.auth("garbage")), 401) == {"detail": "Invalid token."}
    forged = forge_token({"token_type": "verification", "user_id": 1, "exp": 9999999999,
                          "iat": 1, "jti": unique_hex(32)}, key="another-key-entirely-0123456789")
    assert expect(shop.post(RESEND, headers=shop.auth(forged)), 401) == {"detail": "Invalid token."}


def test_resend_rate_limit_per_ip(make_server):
    s = make_server(SHOPD_RATE_LIMITS="")  # the documented limits
    api = Api(s)
    body, _ = register(api)
    vt = unverified_login(api, body)["verification_token"]
    h = api.auth(vt)
    # remaining_attempts counts the daily quota per email (5); the per-IP
    # rule (2 per minute) still refuses the third within the minute.
    assert expect(api.post(RESEND, headers=h), 200)["remaining_attempts"] == 4
    assert expect(api.post(RESEND, headers=h), 200)["remaining_attempts"] == 3
    r = api.post(RESEND, headers=h)
    assert expect(r, 429) == RATE_LIMITED
    assert int(r.headers["Retry-After"]) > 0
    # The limit is per IP: another user from the same address is refused too.
    other, _ = register(api)
    r = api.post(RESEND, headers=api.auth(unverified_login(api, other)["verification_token"]))
    assert expect(r, 429) == RATE_LIMITED


def test_resend_rate_limit_per_email_per_day(make_server, mailbox):
    # The per-IP rule is widened so that the daily rule (5 per email) decides.
    s = make_server(SHOPD_RATE_LIMITS="shop-resend-ip=1000/60")
    api = Api(s)
    body, _ = register(api)
    vt = unverified_login(api, body)["verification_token"]
    h = api.auth(vt)
    remaining = [expect(api.post(RESEND, headers=h), 200)["remaining_attempts"] for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
    assert expect(api.post(RESEND, headers=h), 429) == RATE_LIMITED
    # Registration's email plus five resends arrived.
    for _ in range(6):
        verify_link(mailbox, body["email"])
    # Another user has their own five.
    other, _ = register(api)
    h2 = api.auth(unverified_login(api, other)["verification_token"])
    assert expect(api.post(RESEND, headers=h2), 200)["remaining_attempts"] == 4


# ---------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------

def test_addresses_crud(shop, mailbox):
    acct = verified_account(shop, mailbox)
    h = shop.auth(acct.access)
    assert expect(shop.get(ADDRESSES, headers=h), 200) == []
    r = shop.post(ADDRESSES, json=dict(ADDRESS, address_line2=""), headers=h)
    [created] = expect(r, 201)
    aid = created["id"]
    assert created == address_json(aid)
    second = add_address(shop, acct.access, address_line1="456 New St", city="Test",
                         address_line2="Floor 3")
    assert second == address_json(second["id"], address_line1="456 New St", city="Test",
                                   address_line2="Floor 3")
    assert expect(shop.get(ADDRESSES, headers=h), 200) == [created, second]
    assert expect(shop.get(f"{ADDRESSES}{aid}/", headers=h), 200) == created

    updated = {"address_line1": "789 Other Rd", "city": "Elsewhere", "state": "S",
               "country": "India", "postal_code": "111111"}
    r = shop.put(f"{ADDRESSES}{aid}/", json=updated, headers=h)
    assert expect(r, 200) == {"message": "Address updated successfully."}
    assert expect(shop.get(f"{ADDRESSES}{aid}/", headers=h), 200) == dict(updated, id=aid,
                                                                           address_line2="")
    r = shop.patch(f"{ADDRESSES}{aid}/", json={"city": "Patched", "address_line2": None},
                   headers=h)
    assert expect(r, 200) == {"message": "Address updated successfully."}
    assert expect(shop.get(f"{ADDRESSES}{aid}/", headers=h), 200)["city"] == "Patched"

    r = shop.delete(f"{ADDRESSES}{aid}/", headers=h)
    assert r.status_code == 204 and r.content == b""
    assert expect(shop.get(f"{ADDRESSES}{aid}/", headers=h), 404) == ADDRESS_NOT_FOUND
    assert expect(shop.delete(f"{ADDRESSES}{aid}/", headers=h), 404) == ADDRESS_NOT_FOUND
    assert expect(shop.get(ADDRESSES, headers=h), 200) == [second]


def test_addresses_errors(shop, mailbox):
    acct = verified_account(shop, mailbox)
    h = shop.auth(acct.access)
    assert expect(shop.post(ADDRESSES, json={}, headers=h), 400) == {
        "error": INVALID_DATA, "details": {f: REQUIRED for f in (
            "address_line1", "city", "state", "country", "postal_code")}}
    r = shop.post(ADDRESSES, json=dict(ADDRESS, city="", postal_code=["1"]), headers=h)
    assert expect(r, 400) == {"error": INVALID_DATA, "details": {
        "city": ["This field may not be blank."], "postal_code": ["Not a valid string."]}}
    r = shop.post(ADDRESSES, json=dict(ADDRESS, state="s" * 256), headers=h)
    assert expect(r, 400) == {"error": INVALID_DATA, "details": {
        "state": ["Ensure this field has no more than 255 characters."]}}
    assert expect(shop.get(ADDRESSES, headers=h), 200) == []

    a = add_address(shop, acct.access)
    r = shop.put(f"{ADDRESSES}{a['id']}/", json={"city": "Only"}, headers=h)
    assert expect(r, 400) == {"error": INVALID_DATA, "details": {f: REQUIRED for f in (
        "address_line1", "state", "country", "postal_code")}}
    r = shop.patch(f"{ADDRESSES}{a['id']}/", json={"city": ""}, headers=h)
    assert expect(r, 400) == {"error": INVALID_DATA,
                              "details": {"city": ["This field may not be blank."]}}
    assert expect(shop.get(f"{ADDRESSES}{a['id']}/", headers=h), 200) == a
    for missing in ("999999999", "0"):
        assert expect(shop.get(f"{ADDRESSES}{missing}/", headers=h), 404) == ADDRESS_NOT_FOUND
        assert expect(shop.put(f"{ADDRESSES}{missing}/", json=ADDRESS, headers=h),
                      404) == ADDRESS_NOT_FOUND


def test_addresses_of_another_user_are_invisible(shop, mailbox):
    alice = verified_account(shop, mailbox)
    bob = verified_account(shop, mailbox)
    a = add_address(shop, alice.access)
    url = f"{ADDRESSES}{a['id']}/"
    hb = shop.auth(bob.access)
    assert expect(shop.get(ADDRESSES, headers=hb), 200) == []
    assert expect(shop.get(url, headers=hb), 404) == ADDRESS_NOT_FOUND
    assert expect(shop.put(url, json=ADDRESS, headers=hb), 404) == ADDRESS_NOT_FOUND
    assert expect(shop.patch(url, json={"city": "Hijacked"}, headers=hb), 404) == ADDRESS_NOT_FOUND
    assert expect(shop.delete(url, headers=hb), 404) == ADDRESS_NOT_FOUND
    # A stranger's id in a profile update is 404 too, and nothing is changed.
    r = shop.put(PROFILE, json={"first_name": "Bobby", "addresses": [{"id": a["id"],
                                                                      "city": "Hijacked"}]},
                 headers=hb)
    assert expect(r, 404) == ADDRESS_NOT_FOUND
    assert profile(shop, bob.access)["first_name"] == "New"
    assert expect(shop.get(url, headers=shop.auth(alice.access)), 200) == a


def test_addresses_auth_errors(shop):
    assert expect(shop.get(ADDRESSES), 401) == NOT_PROVIDED
    assert expect(shop.post(ADDRESSES, json=ADDRESS), 401) == NOT_PROVIDED
    assert expect(shop.get(f"{ADDRESSES}1/"), 401) == NOT_PROVIDED
    bad = {"error": "Invalid token or user ID"}
    assert expect(shop.get(ADDRESSES, headers=shop.auth("garbage")), 401) == bad
    assert expect(shop.delete(f"{ADDRESSES}1/", headers=shop.auth("garbage")), 401) == bad


# ---------------------------------------------------------------------------
# User profile
# ---------------------------------------------------------------------------

def test_profile_get(shop, mailbox):
    body, reg = register(shop, addresses=[ADDRESS])
    verify(shop, mailbox, body["email"])
    t = login(shop, body["phone_number"], body["password"])
    assert profile(shop, t["access"]) == {
        "username": body["username"], "first_name": "New", "last_name": "User",
        "email": body["email"], "phone_number": body["phone_number"],
        "addresses": reg["addresses"]}


def test_profile_put_updates_and_creates(shop, mailbox):
    body, reg = register(shop, addresses=[ADDRESS, dict(ADDRESS, address_line1="2nd St")])
    verify(shop, mailbox, body["email"])
    access = login(shop, body["username"], body["password"])["access"]
    first, second = reg["addresses"]
    phone = new_phone()
    req = {"first_name": "UpdatedName", "last_name": "UpdatedSurname", "phone_number": phone,
           "addresses": [{"id": second["id"], "address_line1": "456 New St", "city": "updated",
                          "state": "Newsupdatedstate", "country": "India",
                          "postal_code": "654321"},
                         {"address_line1": "New One", "city": "C", "state": "S",
                          "country": "India", "postal_code": "1"}]}
    got = expect(shop.put(PROFILE, json=req, headers=shop.auth(access)), 200)
    created = got["addresses"][2]
    assert got == {
        "username": body["username"], "first_name": "UpdatedName",
        "last_name": "UpdatedSurname", "email": body["email"], "phone_number": phone,
        "addresses": [first,
                      {"id": second["id"], "address_line1": "456 New St", "address_line2": "",
                       "city": "updated", "state": "Newsupdatedstate", "country": "India",
                       "postal_code": "654321"},
                      {"id": created["id"], "address_line1": "New One", "address_line2": "",
                       "city": "C", "state": "S", "country": "India", "postal_code": "1"}]}
    assert profile(shop, access) == got
    # The new phone number logs in.
    login(shop, phone, body["password"])


def test_profile_put_partial_and_read_only_fields(shop, mailbox):
    acct = verified_account(shop, mailbox)
    h = shop.auth(acct.access)
    a = add_address(shop, acct.access)
    r = shop.put(PROFILE, json={"last_name": "Only", "username": "hacker", "email": "x@evil.com",
                                "addresses": [{"id": a["id"], "city": "Moved"}]}, headers=h)
    got = expect(r, 200)
    assert (got["username"], got["email"], got["first_name"], got["last_name"]) == (
        acct.body["username"], acct.body["email"], "New", "Only")
    assert got["addresses"] == [dict(a, city="Moved")]


def test_profile_put_errors(shop, mailbox):
    acct = verified_account(shop, mailbox)
    other = verified_account(shop, mailbox)
    h = shop.auth(acct.access)
    invalid = "Invalid input data"
    r = shop.put(PROFILE, json={"phone_number": "12345", "first_name": ""}, headers=h)
    assert expect(r, 400) == {"error": invalid, "details": {
        "first_name": ["This field may not be blank."], "phone_number": PHONE_INVALID}}
    r = shop.put(PROFILE, json={"addresses": [{"city": "No line"}, {"id": "x"}]}, headers=h)
    assert expect(r, 400) == {"error": invalid, "details": {"addresses": [
        {"address_line1": REQUIRED, "state": REQUIRED, "country": REQUIRED,
         "postal_code": REQUIRED},
        {"id": ["A valid integer is required."]}]}}
    r = shop.put(PROFILE, json={"addresses": {"id": 1}}, headers=h)
    assert expect(r, 400) == {"error": invalid, "details": {
        "addresses": ['Expected a list of items but got type "dict".']}}
    r = shop.put(PROFILE, json={"phone_number": other.body["phone_number"]}, headers=h)
    assert expect(r, 409) == USERNAME_CONFLICT
    r = shop.put(PROFILE, json={"addresses": [{"id": 999999999, "city": "X"}]}, headers=h)
    assert expect(r, 404) == ADDRESS_NOT_FOUND
    # A failing item leaves everything as it was (names included).
    r = shop.put(PROFILE, json={"first_name": "Changed", "addresses": [
        dict(ADDRESS), dict(ADDRESS, city="c" * 256)]}, headers=h)
    assert expect(r, 400) == {"error": invalid, "details": {"addresses": [
        {}, {"city": ["Ensure this field has no more than 255 characters."]}]}}
    got = profile(shop, acct.access)
    assert got["first_name"] == "New" and got["addresses"] == []
    # Keeping one's own phone number is no conflict.
    r = shop.put(PROFILE, json={"phone_number": acct.body["phone_number"]}, headers=h)
    assert expect(r, 200)["phone_number"] == acct.body["phone_number"]


def test_profile_auth_errors(shop):
    assert expect(shop.get(PROFILE), 401) == NOT_PROVIDED
    assert expect(shop.put(PROFILE, json={}), 401) == NOT_PROVIDED
    got = expect(shop.get(PROFILE, headers=shop.auth("garbage")), 401)
    assert got["detail"] == "Given token not valid for any token type"
    assert got["code"] == "token_not_valid"


# ---------------------------------------------------------------------------
# Logout
# ---------------------------------------------------------------------------

def test_logout(shop, mailbox):
    acct = verified_account(shop, mailbox)
    h = shop.auth(acct.access)
    r = shop.post(LOGOUT, json={"refresh": acct.refresh}, headers=h)
    assert expect(r, 205) == {"message": "Logout successful, token invalidated."}
    bad = {"error": "Invalid token or token already expired"}
    assert expect(shop.post(LOGOUT, json={"refresh": acct.refresh}, headers=h), 400) == bad
    assert expect(shop.post(TOKEN_REFRESH, json={"refresh": acct.refresh}), 401)["code"] == (
        "token_not_valid")


def test_logout_errors(shop, mailbox):
    acct = verified_account(shop, mailbox)
    h = shop.auth(acct.access)
    bad = {"error": "Invalid token or token already expired"}
    assert expect(shop.post(LOGOUT, json={}, headers=h), 400) == bad
    assert expect(shop.post(LOGOUT, json={"refresh": "garbage"}, headers=h), 400) == bad
    assert expect(shop.post(LOGOUT, json={"refresh": 5}, headers=h), 400) == bad
    assert expect(shop.post(LOGOUT, json={"refresh": acct.access}, headers=h), 400) == bad
    assert expect(shop.post(LOGOUT, json={"refresh": acct.refresh}), 401) == NOT_PROVIDED


def test_logout_refuses_another_users_token(shop, mailbox):
    me = verified_account(shop, mailbox)
    other = verified_account(shop, mailbox)
    r = shop.post(LOGOUT, json={"refresh": other.refresh}, headers=shop.auth(me.access))
    assert expect(r, 400) == {"error": "Invalid token or token already expired"}
    # The other user's session is untouched.
    r = shop.post(TOKEN_REFRESH, json={"refresh": other.refresh})
    assert set(expect(r, 200)) == {"access"}


# ---------------------------------------------------------------------------
# Password reset
# ---------------------------------------------------------------------------

def test_password_reset_flow(shop, mailbox):
    acct = verified_account(shop, mailbox)
    to = acct.body["email"]
    r = shop.post(RESET, json={"email": to.upper()})
    assert expect(r, 200) == {"message": "Password reset e-mail has been sent."}
    msg = mailbox.wait_for(to, "Reset")
    uid, token = link_params(msg, "reset-password", shop.server.frontend_url)
    new = strong_password()
    r = shop.post(CONFIRM, json={"uid": uid, "token": token, "new_password1": new,
                                 "new_password2": new})
    assert expect(r, 200) == RESET_DONE
    login(shop, acct.body["username"], new)
    r = shop.post(LOGIN, json={"login": acct.body["username"], "password": acct.body["password"]})
    assert expect(r, 400) == INVALID_CREDENTIALS
    # The link works once; the old tokens are revoked.
    r = shop.post(CONFIRM, json={"uid": uid, "token": token, "new_password1": new + "x",
                                 "new_password2": new + "x"})
    assert expect(r, 400) == {"error": "Invalid or expired reset token"}
    assert expect(shop.get(PROFILE, headers=shop.auth(acct.access)), 401)["code"] == (
        "token_not_valid")
    assert expect(shop.post(TOKEN_REFRESH, json={"refresh": acct.refresh}), 401)["code"] == (
        "token_not_valid")


def test_password_reset_query_and_legacy_path(shop, mailbox):
    acct = verified_account(shop, mailbox)
    to = acct.body["email"]
    expect(shop.post(RESET, json={"email": to}), 200)
    uid, token = reset_link(mailbox, to)
    new = strong_password()
    r = shop.post(CONFIRM, params={"uid": uid, "token": token},
                  json={"new_password1": new, "new_password2": new})
    assert expect(r, 200) == RESET_DONE
    login(shop, to, new)
    expect(shop.post(RESET, json={"email": to}), 200)
    uid, token = reset_link(mailbox, to)
    newer = strong_password()
    r = shop.post(f"{CONFIRM}{uid}/{token}/", json={"new_password1": newer,
                                                    "new_password2": newer})
    assert expect(r, 200) == RESET_DONE
    login(shop, to, newer)


def test_password_reset_legacy_uid(shop, mailbox):
    acct = verified_account(shop, mailbox)
    to = acct.body["email"]
    expect(shop.post(RESET, json={"email": to}), 200)
    _, token = reset_link(mailbox, to)
    legacy = b64url(str(user_id(acct.access)))
    new = strong_password()
    r = shop.post(CONFIRM, json={"uid": legacy, "token": token, "new_password1": new,
                                 "new_password2": new})
    assert expect(r, 200) == RESET_DONE


def test_password_reset_request_errors(shop):
    r = shop.post(RESET, json={"email": f"nobody-{unique_hex()}@example.com"})
    assert expect(r, 404) == {"error": "Email address not found."}
    assert expect(shop.post(RESET, json={}), 400) == {"error": INVALID_DATA,
                                                      "details": {"email": REQUIRED}}
    assert expect(shop.post(RESET, json={"email": "not-an-email"}), 400) == {
        "error": INVALID_DATA, "details": {"email": ["Enter a valid email address."]}}


def test_password_reset_confirm_errors(shop, mailbox):
    acct = verified_account(shop, mailbox)
    to = acct.body["email"]
    expect(shop.post(RESET, json={"email": to}), 200)
    uid, token = reset_link(mailbox, to)
    good = strong_password()

    def confirm(**fields):
        return shop.post(CONFIRM, json=fields)

    def err(message):
        return {"error": message}

    assert expect(confirm(new_password1=good, new_password2=good), 400) == err(
        "Missing reset parameters")
    assert expect(confirm(uid=uid, new_password1=good, new_password2=good), 400) == err(
        "Missing reset parameters")
    assert expect(confirm(token=token, uid="", new_password1=good, new_password2=good),
                  400) == err("Missing reset parameters")
    for bad_uid in ("!!!", b64url("u99999999"), b64url("nope")):
        assert expect(confirm(uid=bad_uid, token=token, new_password1=good, new_password2=good),
                      400) == err("Invalid user ID")
    for bad_token in ("garbage", token[:-2] + "00", "1-abc-" + "0" * 32):
        assert expect(confirm(uid=uid, token=bad_token, new_password1=good, new_password2=good),
                      400) == err("Invalid or expired reset token")
    assert expect(confirm(uid=uid, token=token), 400) == err("Both password fields are required")
    assert expect(confirm(uid=uid, token=token, new_password1=good), 400) == err(
        "Both password fields are required")
    assert expect(confirm(uid=uid, token=token, new_password1=good, new_password2=None),
                  400) == err("Both password fields are required")
    assert expect(confirm(uid=uid, token=token, new_password1="", new_password2=good), 400) == {
        "error": "Password reset failed", "details": {"new_password1": REQUIRED}}
    assert expect(confirm(uid=uid, token=token, new_password1=good, new_password2=good + "x"),
                  400) == err("Password confirmation does not match")
    got = expect(confirm(uid=uid, token=token, new_password1="123", new_password2="123"), 400)
    assert got["error"] == "Password validation failed"
    assert sorted(got["details"]) == sorted([TOO_SHORT, TOO_COMMON, ENTIRELY_NUMERIC])
    got = expect(confirm(uid=uid, token=token, new_password1="password",
                         new_password2="password"), 400)
    assert got == {"error": "Password validation failed", "details": [TOO_COMMON]}
    # None of that spent the link.
    assert expect(confirm(uid=uid, token=token, new_password1=good, new_password2=good),
                  200) == RESET_DONE


def test_password_reset_unverified_user(shop, mailbox):
    body, _ = register(shop)
    expect(shop.post(RESET, json={"email": body["email"]}), 200)
    uid, token = reset_link(mailbox, body["email"])
    new = strong_password()
    r = shop.post(CONFIRM, json={"uid": uid, "token": token, "new_password1": new,
                                 "new_password2": new})
    assert expect(r, 400) == UNVERIFIED_RESET


def test_password_reset_inactive_user(shop, mailbox):
    acct = verified_account(shop, mailbox)
    to = acct.body["email"]
    expect(shop.post(RESET, json={"email": to}), 200)
    uid, token = reset_link(mailbox, to)
    r = shop.post("/api/accounts/deactivate/", json={"password": acct.body["password"]},
                  headers=shop.auth(acct.access))
    assert r.status_code == 200, r.text
    new = strong_password()
    r = shop.post(CONFIRM, json={"uid": uid, "token": token, "new_password1": new,
                                 "new_password2": new})
    assert expect(r, 400) == {"error": "User account is inactive"}
    # An inactive account gets no new link, though the answer does not say so.
    assert expect(shop.post(RESET, json={"email": to}), 200) == {
        "message": "Password reset e-mail has been sent."}
    time.sleep(1)
    assert [m["Subject"] for m in mailbox.all_to(to) if "Reset" in m["Subject"]] == [
        "Reset your password"]


def test_password_reset_rate_limit(make_server):
    s = make_server(SHOPD_RATE_LIMITS="")  # the documented limits
    api = Api(s)
    for _ in range(2):
        expect(api.post(RESET, json={"email": f"x-{unique_hex()}@example.com"}), 404)
    r = api.post(RESET, json={"email": "someone@example.com"})
    assert expect(r, 429) == RATE_LIMITED
    assert int(r.headers["Retry-After"]) > 0


def test_password_reset_confirm_rate_limit(make_server):
    s = make_server(SHOPD_RATE_LIMITS="")  # the documented limits
    api = Api(s)
    for _ in range(2):
        r = api.post(CONFIRM, json={"uid": "dTE", "token": "garbage", "new_password1": "a",
                                    "new_password2": "a"})
        assert r.status_code == 400
    assert expect(api.post(CONFIRM, json={}), 429) == RATE_LIMITED


def test_password_reset_request_and_confirm_count_apart(make_server):
    # Asking for a link must not spend the attempts of the confirm step.
    api = Api(make_server(SHOPD_RATE_LIMITS=""))
    for _ in range(2):
        assert api.post(RESET, json={"email": "nobody@example.com"}).status_code != 429
    r = api.post(CONFIRM, json={"uid": "dTE", "token": "garbage", "new_password1": "a",
                                "new_password2": "a"})
    assert r.status_code == 400, r.text


# ---------------------------------------------------------------------------
# One user base: /api/v1/auth/ <-> /api/users/
# ---------------------------------------------------------------------------

def test_v1_user_logs_in_here_once_verified(shop, mailbox):
    to = f"v1-{unique_hex()}@example.com"
    password = strong_password()
    r = shop.post("/api/v1/auth/register/", json={"email": to, "password": password,
                                                  "password_confirm": password})
    assert r.status_code == 201, r.text
    # Unverified: refused here, with the document's 403.
    got = expect(shop.post(LOGIN, json={"login": to, "password": password}), 403)
    assert got["stored_email_address"] == to
    # The email sent for the v1 registration verifies here.
    verify(shop, mailbox, to)
    t = login(shop, to, password)
    assert profile(shop, t["access"]) == {
        "username": to, "first_name": "", "last_name": "", "email": to, "phone_number": None,
        "addresses": []}


def test_shop_user_logs_in_through_v1(shop, mailbox):
    acct = verified_account(shop, mailbox)
    r = shop.post("/api/v1/auth/login/", json={"email": acct.body["email"],
                                               "password": acct.body["password"]})
    got = expect(r, 200)
    assert got["data"]["user"]["email"] == acct.body["email"]
    # And the v1 access token is good here too.
    assert profile(shop, got["data"]["access_token"])["username"] == acct.body["username"]
