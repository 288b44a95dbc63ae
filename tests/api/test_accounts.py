"""/api/accounts/: the accounts surface (seed document 001_d28a5359b987eaad.txt).

Walks every request of the document with the {"success", "data", "message"} envelope and
the {"success": false, "message", "code", "errors"} error envelope, follows the real
verification and reset emails, uploads real images, and checks the rate limits, ownership
(404 for another user's objects) and the moves between surfaces.
"""

import base64
import re
import struct
import time
import zlib
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from shopdtest import (REPO_ROOT, Api, claims_for, decode_token, expect, forge_token, http,
                       link_params, mail_text, strong_password, unique_email, unique_hex,
                       unique_letters)

ACC = "/api/accounts"
LOGIN = f"{ACC}/login/"
REGISTER = f"{ACC}/register/"
REFRESH = f"{ACC}/token/refresh/"
LOGOUT = f"{ACC}/logout/"
PROFILE = f"{ACC}/profile/"
AVATAR = f"{ACC}/profile/avatar/"
ADDRESSES = f"{ACC}/addresses/"
CHANGE_PASSWORD = f"{ACC}/change-password/"
RESET = f"{ACC}/password-reset/"
RESET_CONFIRM = f"{ACC}/password-reset/confirm/"
RESEND = f"{ACC}/verify-email/resend/"
VERIFY = f"{ACC}/verify-email/confirm/"
PREFERENCES = f"{ACC}/email-preferences/"
DEACTIVATE = f"{ACC}/deactivate/"

REQUIRED = ["This field is required."]
BLANK = ["This field may not be blank."]
NOT_BOOLEAN = ["Must be a valid boolean."]
NOT_NULL = ["This field may not be null."]
REGISTERED = "Registration successful. Please check your email for verification."
NOT_VERIFIED_LOGIN = ("Email address not verified. Please check your email for the "
                      "verification link.")
RESET_SENT = "If an account with this email exists, a password reset link has been sent."
RESEND_SENT = ("If an account with this email exists and is not verified yet, a verification "
               "email has been sent.")
BAD_LINK_TOKEN = {"token": ["Invalid or expired token."]}
TOO_SHORT = "This password is too short. It must contain at least 8 characters."
NUMERIC = "This password is entirely numeric."
COMMON = "This password is too common."
BAD_PHONE = "Enter a valid phone number in international format, e.g. +14155550123."
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
JWT_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")

DEFAULT_PREFERENCES = {"order_confirmation": True, "order_status_update": True,
                       "password_reset": True, "inventory_alerts": False, "marketing": False,
                       "receive_digest": True}


# ---------------------------------------------------------------------------
# Envelopes
# ---------------------------------------------------------------------------

def ok(r, status=200, message=None):
    """Asserts the success envelope; returns data."""
    body = expect(r, status)
    assert set(body) == {"success", "data", "message"}, body
    assert body["success"] is True, body
    assert isinstance(body["message"], str) and body["message"], body
    if message is not None:
        assert body["message"] == message, body
    return body["data"]


def fail(r, status, code, errors=None, message=None):
    """Asserts the error envelope with its code (and errors / message when given)."""
    body = expect(r, status)
    assert set(body) == {"success", "message", "code", "errors"}, body
    assert body["success"] is False, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["errors"], dict), body
    if errors is not None:
        assert body["errors"] == errors, body
    if message is not None:
        assert body["message"] == message, body
    return body


def invalid(r, errors):
    return fail(r, 400, "VALIDATION_ERROR", errors, "Invalid input.")


# ---------------------------------------------------------------------------
# Mail (the session's SMTP sink)
# ---------------------------------------------------------------------------

def verification_token(mailbox, address):
    return link_params(mailbox.wait_for(address, subject_contains="Verify"), "verify-email")[1]


def reset_token(mailbox, address):
    return link_params(mailbox.wait_for(address, subject_contains="Reset"), "reset-password")[1]


# ---------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------

def reg_body(**over):
    addr = over.pop("email") if "email" in over else unique_email("acc")
    password = over.pop("password") if "password" in over else strong_password()
    body = {"username": addr, "email": addr, "password": password, "password_confirm": password,
            "first_name": "Jane", "last_name": "Smith"}
    body.update(over)
    return body


def login(api, username, password):
    return ok(api.post(LOGIN, json={"username": username, "password": password}), 200,
              "Login successful")


def new_account(api, mailbox, **over):
    """Registers here, follows the verification email, logs in. Returns a namespace with
    id, username, email, password, access, refresh."""
    body = reg_body(**over)
    user = ok(api.post(REGISTER, json=body), 201)["user"]
    token = verification_token(mailbox, body["email"])
    ok(api.post(VERIFY, json={"token": token}), 200)
    data = login(api, body["username"], body["password"])
    return SimpleNamespace(id=user["id"], username=body["username"], email=body["email"],
                           password=body["password"], access=data["access"],
                           refresh=data["refresh"], body=body)


@pytest.fixture
def acct(api, mailbox):
    return new_account(api, mailbox)


@pytest.fixture
def other(api, mailbox):
    return new_account(api, mailbox)


def auth(token):
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------------
# Register, verify, login (the document's "Complete Registration Flow")
# ---------------------------------------------------------------------------

def test_complete_registration_flow(api, mailbox):
    # 1. Register (the document's body, phone included)
    addr = unique_email("newuser")
    body = {"username": addr, "email": addr, "password": "securepassword123",
            "password_confirm": "securepassword123", "first_name": "Jane", "last_name": "Smith",
            "phone": "+2782" + str(int(unique_hex(8), 16) % 10**7).zfill(7)}
    r = api.post(REGISTER, json=body)
    resp = expect(r, 201)
    uid = resp["data"]["user"]["id"]
    assert isinstance(uid, int) and not isinstance(uid, bool)
    assert resp == {"success": True,
                    "data": {"user": {"id": uid, "username": addr, "email": addr,
                                      "first_name": "Jane", "last_name": "Smith"},
                             "message": REGISTERED},
                    "message": REGISTERED}
    # Unverified: login refused with the document's code
    fail(api.post(LOGIN, json={"username": addr, "password": "securepassword123"}), 403,
         "EMAIL_NOT_VERIFIED", {}, NOT_VERIFIED_LOGIN)
    # 2. Verify email (token from the email)
    msg = mailbox.wait_for(addr, subject_contains="Verify")
    link_uid, token = link_params(msg, "verify-email")
    assert token in mail_text(msg)  # shown beside the link too
    data = ok(api.post(VERIFY, json={"token": token}), 200, "Email verified successfully")
    assert data == {"user": {"id": uid, "username": addr, "email": addr, "first_name": "Jane",
                             "last_name": "Smith"},
                    "email_verified": True}
    # 3. Login
    r = api.post(LOGIN, json={"username": addr, "password": "securepassword123"})
    resp = expect(r, 200)
    assert resp["success"] is True and resp["message"] == "Login successful"
    d = resp["data"]
    assert set(d) == {"access", "refresh", "user"}
    assert JWT_RE.match(d["access"]) and JWT_RE.match(d["refresh"])
    assert decode_token(d["access"])[1]["token_type"] == "access"
    assert decode_token(d["refresh"])[1]["token_type"] == "refresh"
    assert d["user"] == {"id": uid, "username": addr, "email": addr, "first_name": "Jane",
                         "last_name": "Smith", "is_staff": False, "is_superuser": False}
    # the verification link is spent
    fail(api.post(VERIFY, json={"token": token}), 400, "INVALID_TOKEN", BAD_LINK_TOKEN)
    # the phone was stored
    prof = ok(api.get(PROFILE, headers=auth(d["access"])))
    assert prof["phone"] == body["phone"]


def test_verify_with_uid_from_the_link(api, mailbox):
    body = reg_body()
    ok(api.post(REGISTER, json=body), 201)
    uid, token = link_params(mailbox.wait_for(body["email"], subject_contains="Verify"),
                             "verify-email")
    # a uid that disagrees with the token is refused; the right one is accepted
    fail(api.post(VERIFY, json={"token": token, "uid": "dTk5OTk5"}), 400, "INVALID_TOKEN",
         BAD_LINK_TOKEN)
    ok(api.post(VERIFY, json={"token": token, "uid": uid}), 200)
    login(api, body["email"], body["password"])


def test_login_by_username_or_email_any_case(api, mailbox):
    name = "shopper_" + unique_hex(8)
    a = new_account(api, mailbox, username=name)
    for who in (name, name.upper(), a.email, a.email.upper()):
        assert login(api, who, a.password)["user"]["username"] == name
    # "email" instead of "username" is understood too
    ok(api.post(LOGIN, json={"email": a.email, "password": a.password}))


def test_login_invalid_credentials(api, acct):
    for body in ({"username": acct.email, "password": acct.password + "x"},
                 {"username": unique_email("nobody"), "password": acct.password},
                 {"username": "nobody_" + unique_hex(), "password": "whatever-123"}):
        fail(api.post(LOGIN, json=body), 401, "INVALID_CREDENTIALS", {},
             "Invalid username or password.")


def test_login_missing_and_bad_fields(api):
    invalid(api.post(LOGIN, json={}), {"username": REQUIRED, "password": REQUIRED})
    invalid(api.post(LOGIN, json={"username": "", "password": ""}),
            {"username": BLANK, "password": BLANK})
    invalid(api.post(LOGIN, json={"username": ["x"], "password": None}),
            {"username": ["Not a valid string."], "password": NOT_NULL})


def test_login_of_an_admin(api, server, create_admin):
    addr, pw = unique_email("admin"), strong_password()
    name = "boss_" + unique_hex(8)
    create_admin(server, addr, pw, username=name)
    d = login(api, name, pw)
    assert d["user"] == {"id": d["user"]["id"], "username": name, "email": addr,
                         "first_name": "", "last_name": "", "is_staff": True,
                         "is_superuser": True}


def test_register_without_username_uses_the_email(api, mailbox):
    body = reg_body()
    del body["username"]
    user = ok(api.post(REGISTER, json=body), 201)["user"]
    assert user["username"] == body["email"]


def test_register_minimal_body(api):
    addr = unique_email()
    pw = strong_password()
    user = ok(api.post(REGISTER, json={"email": addr, "password": pw, "password_confirm": pw}),
              201, REGISTERED)["user"]
    assert user == {"id": user["id"], "username": addr, "email": addr, "first_name": "",
                    "last_name": ""}


def test_register_missing_fields(api):
    invalid(api.post(REGISTER, json={}),
            {"email": REQUIRED, "password": REQUIRED, "password_confirm": REQUIRED})


def test_register_password_mismatch(api):
    invalid(api.post(REGISTER, json=reg_body(password_confirm="Something-else-123")),
            {"password_confirm": ["Passwords do not match."]})


@pytest.mark.parametrize("password,messages", [
    ("short1", [TOO_SHORT]),
    ("12345678901", [NUMERIC]),
    ("password", [COMMON]),
    ("123", [TOO_SHORT, COMMON, NUMERIC]),
])
def test_register_weak_password(api, password, messages):
    # Letters only: a random hex address can contain the password's digits, and Django's
    # similarity rule then adds a message of its own.
    email = f"acc-{unique_letters()}@example.com"
    r = api.post(REGISTER, json=reg_body(email=email, password=password, password_confirm=password))
    fail(r, 400, "WEAK_PASSWORD", {"password": messages}, "Password doesn't meet requirements.")


def test_register_email_already_exists(api, acct):
    for addr in (acct.email, acct.email.upper()):
        r = api.post(REGISTER, json=reg_body(email=addr, username="fresh_" + unique_hex()))
        fail(r, 400, "EMAIL_ALREADY_EXISTS",
             {"email": ["A user with this email already exists."]},
             "Email address already registered.")


def test_register_username_and_phone_taken(api, mailbox):
    phone = "+2783" + str(int(unique_hex(8), 16) % 10**7).zfill(7)
    a = new_account(api, mailbox, username="taken_" + unique_hex(), phone=phone)
    r = api.post(REGISTER, json=reg_body(username=a.username.upper()))
    invalid(r, {"username": ["A user with that username already exists."]})
    r = api.post(REGISTER, json=reg_body(username="free_" + unique_hex(), phone=phone))
    invalid(r, {"phone": ["A user with this phone number already exists."]})


@pytest.mark.parametrize("field,value,errors", [
    ("email", "not-an-email", {"email": ["Enter a valid email address."]}),
    ("email", "", {"email": BLANK, "username": BLANK}),
    ("phone", "0821234567", {"phone": [BAD_PHONE]}),
    ("phone", "+27 82 123", {"phone": [BAD_PHONE]}),
    ("username", "has space", {"username": [
        "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ "
        "characters."]}),
    ("username", "someone-else@example.com", {"username": [
        "A username that is an email address must be your email."]}),
    ("username", "u" * 151, {"username": ["Ensure this field has no more than 150 characters."]}),
    ("first_name", "x" * 151,
     {"first_name": ["Ensure this field has no more than 150 characters."]}),
    ("first_name", {"a": 1}, {"first_name": ["Not a valid string."]}),
    ("password", None, {"password": NOT_NULL, "password_confirm": NOT_NULL}),
])
def test_register_bad_field(api, field, value, errors):
    invalid(api.post(REGISTER, json=reg_body(**{field: value})), errors)


def test_register_blank_phone_is_no_phone(api, mailbox):
    a = new_account(api, mailbox, phone="")
    assert ok(api.get(PROFILE, headers=auth(a.access)))["phone"] == ""


def test_register_body_that_is_not_an_object(api):
    r = api.post(REGISTER, json=["x"])
    assert r.status_code == 400


# ---------------------------------------------------------------------------
# Tokens: refresh, 401s, logout
# ---------------------------------------------------------------------------

def test_refresh_rotates(api, acct):
    d = ok(api.post(REFRESH, json={"refresh": acct.refresh}), 200, "Token refreshed successfully")
    assert set(d) == {"access", "refresh"}
    assert d["refresh"] != acct.refresh
    ok(api.get(PROFILE, headers=auth(d["access"])))
    # the used token is blacklisted
    fail(api.post(REFRESH, json={"refresh": acct.refresh}), 401, "INVALID_TOKEN",
         {"refresh": ["Token is blacklisted."]})


def test_refresh_errors(api, acct, secret_key):
    invalid(api.post(REFRESH, json={}), {"refresh": REQUIRED})
    fail(api.post(REFRESH, json={"refresh": "garbage"}), 401, "INVALID_TOKEN",
         {"refresh": ["Token is invalid or expired."]})
    fail(api.post(REFRESH, json={"refresh": acct.access}), 401, "INVALID_TOKEN",
         {"refresh": ["Token has wrong type."]})
    forged = forge_token(claims_for(acct.id, "refresh", lifetime=900), key="wrong-key" * 4)
    fail(api.post(REFRESH, json={"refresh": forged}), 401, "INVALID_TOKEN")
    expired = forge_token(claims_for(acct.id, "refresh", lifetime=-60), key=secret_key)
    fail(api.post(REFRESH, json={"refresh": expired}), 401, "TOKEN_EXPIRED",
         {"refresh": ["Token has expired."]}, "Token has expired.")


def test_401_shapes(api, acct, secret_key):
    fail(api.get(PROFILE), 401, "AUTHENTICATION_REQUIRED", {},
         "Authentication credentials were not provided.")
    fail(api.get(PROFILE, headers=auth("not.a.token")), 401, "INVALID_TOKEN", {})
    fail(api.get(PROFILE, headers={"Authorization": "Bearer a b"}), 401, "INVALID_TOKEN", {})
    fail(api.get(PROFILE, headers=auth(acct.refresh)), 401, "INVALID_TOKEN", {},
         "Token has wrong type.")
    expired = forge_token(claims_for(acct.id, lifetime=-60), key=secret_key)
    fail(api.get(PROFILE, headers=auth(expired)), 401, "TOKEN_EXPIRED", {}, "Token has expired.")
    # an expired token signed with another key is not "expired": it is invalid
    other_key = forge_token(claims_for(acct.id, lifetime=-60), key="another-key" * 4)
    fail(api.get(PROFILE, headers=auth(other_key)), 401, "INVALID_TOKEN")
    gone = forge_token(claims_for(10**9), key=secret_key)
    fail(api.get(PROFILE, headers=auth(gone)), 401, "INVALID_TOKEN", {}, "User not found.")
    r = api.get(PROFILE)
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")


@pytest.mark.parametrize("method,path", [
    ("POST", LOGOUT), ("GET", PROFILE), ("PUT", PROFILE), ("POST", AVATAR), ("GET", ADDRESSES),
    ("POST", ADDRESSES), ("PUT", ADDRESSES + "1/"), ("DELETE", ADDRESSES + "1/"),
    ("POST", CHANGE_PASSWORD), ("GET", PREFERENCES), ("PUT", PREFERENCES), ("POST", DEACTIVATE),
])
def test_authenticated_routes_refuse_anonymous(api, method, path):
    fail(api.request(method, path, json={}), 401, "AUTHENTICATION_REQUIRED")


def test_logout_with_refresh(api, mailbox, acct):
    second = login(api, acct.email, acct.password)
    ok(api.post(LOGOUT, json={"refresh": acct.refresh}, headers=auth(acct.access)), 200,
       "Logout successful")
    # logging out twice is fine; the other session is untouched
    ok(api.post(LOGOUT, json={"refresh": acct.refresh}, headers=auth(acct.access)))
    second = ok(api.post(REFRESH, json={"refresh": second["refresh"]}))
    # the logged-out token is refused (and, as any reuse of a spent refresh token, it
    # revokes the user's other refresh tokens: core treats it as theft)
    fail(api.post(REFRESH, json={"refresh": acct.refresh}), 401, "INVALID_TOKEN",
         {"refresh": ["Token is blacklisted."]})


def test_logout_refuses_someone_elses_refresh(api, acct, other):
    fail(api.post(LOGOUT, json={"refresh": other.refresh}, headers=auth(acct.access)), 400,
         "INVALID_TOKEN", {"refresh": ["Token is invalid or expired."]})
    ok(api.post(REFRESH, json={"refresh": other.refresh}))  # still valid


def test_logout_bad_refresh(api, acct):
    fail(api.post(LOGOUT, json={"refresh": "garbage"}, headers=auth(acct.access)), 400,
         "INVALID_TOKEN", {"refresh": ["Token is invalid or expired."]})
    invalid(api.post(LOGOUT, json={"refresh": []}, headers=auth(acct.access)),
            {"refresh": ["Not a valid string."]})


def test_logout_without_body_ends_every_session(api, acct, other):
    second = login(api, acct.email, acct.password)
    ok(api.post(LOGOUT, headers=auth(acct.access)), 200, "Logout successful")
    for t in (acct.refresh, second["refresh"]):
        fail(api.post(REFRESH, json={"refresh": t}), 401, "INVALID_TOKEN")
    ok(api.post(REFRESH, json={"refresh": other.refresh}))  # other users keep theirs


# ---------------------------------------------------------------------------
# Profile
# ---------------------------------------------------------------------------

def test_profile_get_shape(api, acct):
    p = ok(api.get(PROFILE, headers=auth(acct.access)), 200, "Profile retrieved successfully")
    assert p == {"id": acct.id, "username": acct.username, "email": acct.email,
                 "first_name": "Jane", "last_name": "Smith", "phone": "",
                 "date_joined": p["date_joined"], "last_login": p["last_login"],
                 "profile": {"bio": "", "avatar": None, "date_of_birth": None, "gender": "",
                             "location": ""}}
    assert DATE_RE.match(p["date_joined"]) and DATE_RE.match(p["last_login"])
    joined = datetime.strptime(p["date_joined"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - joined).total_seconds()) < 300


def test_profile_put_documented_body(api, acct):
    phone = "+2784" + str(int(unique_hex(8), 16) % 10**7).zfill(7)
    body = {"first_name": "John", "last_name": "Doe", "phone": phone,
            "profile": {"bio": "Updated bio", "date_of_birth": "1990-05-15", "gender": "M",
                        "location": "Johannesburg, South Africa"}}
    p = ok(api.put(PROFILE, json=body, headers=auth(acct.access)), 200,
           "Profile updated successfully")
    expected = {"id": acct.id, "username": acct.username, "email": acct.email,
                "first_name": "John", "last_name": "Doe", "phone": phone,
                "date_joined": p["date_joined"], "last_login": p["last_login"],
                "profile": {"bio": "Updated bio", "avatar": None, "date_of_birth": "1990-05-15",
                            "gender": "M", "location": "Johannesburg, South Africa"}}
    assert p == expected
    assert ok(api.get(PROFILE, headers=auth(acct.access))) == expected
    # fields left out stay as they are; email and username are read-only here
    p = ok(api.put(PROFILE, json={"profile": {"bio": "Only the bio"}, "email": "x@example.com",
                                  "username": "hijack"}, headers=auth(acct.access)))
    expected["profile"]["bio"] = "Only the bio"
    assert p == expected
    login(api, acct.email, acct.password)


def test_profile_put_errors_are_nested(api, acct):
    r = api.put(PROFILE, json={"phone": "+2", "first_name": "x" * 151,
                               "profile": {"gender": "X", "date_of_birth": "1990-13-15",
                                           "bio": "b" * 501, "location": "l" * 101}},
                headers=auth(acct.access))
    invalid(r, {"phone": [BAD_PHONE],
                "first_name": ["Ensure this field has no more than 150 characters."],
                "profile": {"gender": ['"X" is not a valid choice.'],
                            "date_of_birth": ["Date has wrong format. Use one of these formats "
                                              "instead: YYYY-MM-DD."],
                            "bio": ["Ensure this field has no more than 500 characters."],
                            "location": ["Ensure this field has no more than 100 characters."]}})
    invalid(api.put(PROFILE, json={"profile": "x"}, headers=auth(acct.access)),
            {"profile": {"non_field_errors": [
                "Invalid data. Expected a dictionary, but got str."]}})
    # nothing was written
    p = ok(api.get(PROFILE, headers=auth(acct.access)))
    assert p["first_name"] == "Jane" and p["profile"]["gender"] == ""


def test_profile_put_is_all_or_nothing(api, mailbox, acct):
    phone = "+2785" + str(int(unique_hex(8), 16) % 10**7).zfill(7)
    new_account(api, mailbox, phone=phone)
    r = api.put(PROFILE, json={"first_name": "Changed", "phone": phone,
                               "profile": {"bio": "changed"}}, headers=auth(acct.access))
    invalid(r, {"phone": ["A user with this phone number already exists."]})
    p = ok(api.get(PROFILE, headers=auth(acct.access)))
    assert p["first_name"] == "Jane" and p["profile"]["bio"] == ""


def test_profile_put_unicode_lengths_count_characters(api, acct):
    bio = "é" * 300  # 600 bytes, 300 characters
    p = ok(api.put(PROFILE, json={"profile": {"bio": bio}}, headers=auth(acct.access)))
    assert p["profile"]["bio"] == bio


def test_profile_clear_phone_and_date_of_birth(api, acct):
    phone = "+2786" + str(int(unique_hex(8), 16) % 10**7).zfill(7)
    ok(api.put(PROFILE, json={"phone": phone, "profile": {"date_of_birth": "1990-05-15"}},
               headers=auth(acct.access)))
    p = ok(api.put(PROFILE, json={"phone": "", "profile": {"date_of_birth": None}},
                   headers=auth(acct.access)))
    assert p["phone"] == "" and p["profile"]["date_of_birth"] is None


def test_profile_put_back_what_get_returned(api, acct):
    p = ok(api.get(PROFILE, headers=auth(acct.access)))
    again = ok(api.put(PROFILE, json=p, headers=auth(acct.access)))
    assert again == p


def test_profiles_are_private(api, acct, other):
    ok(api.put(PROFILE, json={"profile": {"bio": "mine"}}, headers=auth(acct.access)))
    p = ok(api.get(PROFILE, headers=auth(other.access)))
    assert p["id"] == other.id and p["profile"]["bio"] == ""


# ---------------------------------------------------------------------------
# Avatar
# ---------------------------------------------------------------------------

def png_bytes(width=1, height=1):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# A 1x1 grey baseline JPEG: SOI, DQT, SOF0, one-code DC and AC Huffman tables, SOS with
# one block (DC difference 0, then end-of-block), EOI.
JPEG_1X1 = (
    b"\xff\xd8"
    + b"\xff\xdb\x00\x43\x00" + b"\x01" * 64
    + b"\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00"
    + b"\xff\xc4\x00\x14\x00" + b"\x01" + b"\x00" * 15 + b"\x00"
    + b"\xff\xc4\x00\x14\x10" + b"\x01" + b"\x00" * 15 + b"\x00"
    + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    + b"\x3f"
    + b"\xff\xd9")

# A 1x1 lossless WebP.
WEBP_1X1 = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")


def upload(api, token, content, filename="avatar.png", content_type="image/png", field="avatar"):
    return api.post(AVATAR, files={field: (filename, content, content_type)},
                    headers=auth(token))


def fetch(url):
    return http("GET", url)


def test_avatar_png_then_jpeg_replaces_it(api, server, acct):
    png = png_bytes(3, 2)
    p = ok(upload(api, acct.access, png), 200, "Avatar uploaded successfully")
    url = p["profile"]["avatar"]
    assert re.match(re.escape(server.base_url) + r"/media/avatars/[0-9a-f]{32}\.png$", url), url
    r = fetch(url)
    assert r.status_code == 200 and r.headers["Content-Type"].split(";")[0] == "image/png"
    assert r.content == png
    assert ok(api.get(PROFILE, headers=auth(acct.access)))["profile"]["avatar"] == url
    # the name and declared type are the client's; the content decides
    p = ok(upload(api, acct.access, JPEG_1X1, filename="photo.png", content_type="image/png"))
    url2 = p["profile"]["avatar"]
    assert url2.endswith(".jpg") and url2 != url
    r = fetch(url2)
    assert r.status_code == 200 and r.headers["Content-Type"].split(";")[0] == "image/jpeg"
    assert r.content == JPEG_1X1
    # the replaced file is gone
    assert fetch(url).status_code == 404
    assert not list(server.media_dir.glob("avatars/" + url.rsplit("/", 1)[1]))


def test_avatar_webp(api, acct):
    url = ok(upload(api, acct.access, WEBP_1X1, "a.webp", "image/webp"))["profile"]["avatar"]
    r = fetch(url)
    assert r.status_code == 200 and r.headers["Content-Type"].split(";")[0] == "image/webp"
    assert r.content == WEBP_1X1


NOT_AN_IMAGE = ["Upload a valid image. The file you uploaded was either not an image or a "
                "corrupted image."]


def test_avatar_refusals(api, acct):
    invalid(upload(api, acct.access, b"just some text\n", "evil.png", "image/png"),
            {"avatar": NOT_AN_IMAGE})
    big = png_bytes() + b"\x00" * (2 * 1024 * 1024)
    invalid(upload(api, acct.access, big), {"avatar": ["The image must not be larger than 2 MB."]})
    invalid(upload(api, acct.access, b"", "empty.png"),
            {"avatar": ["The submitted file is empty."]})
    invalid(upload(api, acct.access, png_bytes(), field="image"),
            {"avatar": ["No file was submitted."]})
    invalid(api.post(AVATAR, data={"avatar": "not a file"}, files={"x": ("x", b"1")},
                     headers=auth(acct.access)),
            {"avatar": ["The submitted data was not a file. Check the encoding type on the form."]})
    invalid(api.post(AVATAR, json={}, headers=auth(acct.access)),
            {"avatar": ["No file was submitted."]})
    assert ok(api.get(PROFILE, headers=auth(acct.access)))["profile"]["avatar"] is None


def test_avatar_exactly_2mb_is_accepted(api, acct):
    png = png_bytes()
    # bytes after IEND are ignored by decoders; the size is what is checked
    data = png + b"\x00" * (2 * 1024 * 1024 - len(png))
    ok(upload(api, acct.access, data))


# ---------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------

DOC_ADDRESS = {"type": "billing", "first_name": "John", "last_name": "Doe",
               "address_line_1": "456 Oak Avenue", "city": "Johannesburg", "province": "Gauteng",
               "postal_code": "2000", "country": "ZA", "phone": "+27123456789",
               "is_default": False}


def full_address(id, **fields):
    a = {"id": id, "type": "shipping", "first_name": "", "last_name": "", "company": "",
         "address_line_1": "", "address_line_2": "", "city": "", "province": "",
         "postal_code": "", "country": "", "phone": "", "is_default": False}
    a.update(fields)
    return a


def test_address_crud(api, acct):
    h = auth(acct.access)
    assert ok(api.get(ADDRESSES, headers=h), 200, "Addresses retrieved successfully") == []
    a = ok(api.post(ADDRESSES, json=DOC_ADDRESS, headers=h), 201, "Address created successfully")
    assert a == full_address(a["id"], **DOC_ADDRESS)
    ship = {"type": "shipping", "first_name": "John", "last_name": "Doe", "company": "",
            "address_line_1": "123 Main Street", "address_line_2": "Apt 4B", "city": "Cape Town",
            "province": "Western Cape", "postal_code": "8001", "country": "ZA",
            "phone": "+27123456789", "is_default": True}
    b = ok(api.post(ADDRESSES, json=ship, headers=h), 201)
    assert b == full_address(b["id"], **ship)
    assert ok(api.get(ADDRESSES, headers=h)) == [a, b]
    assert ok(api.get(f"{ADDRESSES}{b['id']}/", headers=h), 200,
              "Address retrieved successfully") == b
    # PUT (the whole address)
    put = dict(DOC_ADDRESS, city="Pretoria", company="Acme", address_line_2="Unit 2")
    a2 = ok(api.put(f"{ADDRESSES}{a['id']}/", json=put, headers=h), 200,
            "Address updated successfully")
    assert a2 == full_address(a["id"], **put)
    # PATCH (some fields)
    a3 = ok(api.patch(f"{ADDRESSES}{a['id']}/", json={"postal_code": "0002"}, headers=h))
    assert a3 == dict(a2, postal_code="0002")
    # DELETE
    ok(api.delete(f"{ADDRESSES}{a['id']}/", headers=h), 200, "Address deleted successfully")
    assert ok(api.get(ADDRESSES, headers=h)) == [b]
    fail(api.delete(f"{ADDRESSES}{a['id']}/", headers=h), 404, "NOT_FOUND", {},
         "Address not found.")
    fail(api.get(f"{ADDRESSES}{a['id']}/", headers=h), 404, "NOT_FOUND")


def test_one_default_per_type(api, acct):
    h = auth(acct.access)
    base = {"address_line_1": "1 Road", "city": "Durban"}
    s1 = ok(api.post(ADDRESSES, json=dict(base, is_default=True), headers=h), 201)
    b1 = ok(api.post(ADDRESSES, json=dict(base, type="billing", is_default=True), headers=h), 201)
    s2 = ok(api.post(ADDRESSES, json=dict(base, is_default=True), headers=h), 201)
    defaults = {x["id"]: x["is_default"] for x in ok(api.get(ADDRESSES, headers=h))}
    assert defaults == {s1["id"]: False, b1["id"]: True, s2["id"]: True}
    # making s1 the default again takes it from s2; billing is untouched
    ok(api.patch(f"{ADDRESSES}{s1['id']}/", json={"is_default": True}, headers=h))
    defaults = {x["id"]: x["is_default"] for x in ok(api.get(ADDRESSES, headers=h))}
    assert defaults == {s1["id"]: True, b1["id"]: True, s2["id"]: False}
    # moving a default to the other type takes that type's default
    ok(api.patch(f"{ADDRESSES}{s1['id']}/", json={"type": "billing"}, headers=h))
    defaults = {x["id"]: x["is_default"] for x in ok(api.get(ADDRESSES, headers=h))}
    assert defaults == {s1["id"]: True, b1["id"]: False, s2["id"]: False}


def test_address_validation(api, acct):
    h = auth(acct.access)
    invalid(api.post(ADDRESSES, json={}, headers=h),
            {"address_line_1": REQUIRED, "city": REQUIRED})
    invalid(api.post(ADDRESSES, json={"address_line_1": " ", "city": "", "type": "home",
                                      "province": "p" * 256, "phone": "12345"}, headers=h),
            {"type": ['Select a valid choice. Use "shipping" or "billing".'],
             "address_line_1": BLANK, "city": BLANK,
             "province": ["Ensure this field has no more than 255 characters."],
             "phone": [BAD_PHONE]})
    invalid(api.post(ADDRESSES, json={"address_line_1": "x", "city": "y", "is_default": "maybe"},
                     headers=h), {"is_default": NOT_BOOLEAN})
    invalid(api.post(ADDRESSES, json={"address_line_1": "x", "city": "y", "is_default": None},
                     headers=h), {"is_default": NOT_NULL})
    invalid(api.post(ADDRESSES, json={"address_line_1": 7, "city": ["y"]}, headers=h),
            {"city": ["Not a valid string."]})
    a = ok(api.post(ADDRESSES, json={"address_line_1": "x", "city": "y", "is_default": "true"},
                    headers=h), 201)
    assert a["is_default"] is True
    # PUT needs what a create needs; PATCH does not
    invalid(api.put(f"{ADDRESSES}{a['id']}/", json={"city": "z"}, headers=h),
            {"address_line_1": REQUIRED})
    invalid(api.patch(f"{ADDRESSES}{a['id']}/", json={"city": ""}, headers=h), {"city": BLANK})
    assert ok(api.get(f"{ADDRESSES}{a['id']}/", headers=h)) == a
    fail(api.get(f"{ADDRESSES}999999999/", headers=h), 404, "NOT_FOUND")
    fail(api.put(f"{ADDRESSES}999999999/", json={}, headers=h), 404, "NOT_FOUND")


def test_addresses_are_private(api, acct, other):
    a = ok(api.post(ADDRESSES, json=DOC_ADDRESS, headers=auth(acct.access)), 201)
    h = auth(other.access)
    assert ok(api.get(ADDRESSES, headers=h)) == []
    path = f"{ADDRESSES}{a['id']}/"
    fail(api.get(path, headers=h), 404, "NOT_FOUND", {}, "Address not found.")
    fail(api.put(path, json=DOC_ADDRESS, headers=h), 404, "NOT_FOUND")
    fail(api.patch(path, json={"city": "Stolen"}, headers=h), 404, "NOT_FOUND")
    fail(api.delete(path, headers=h), 404, "NOT_FOUND")
    # the owner's address is untouched
    assert ok(api.get(path, headers=auth(acct.access))) == a


# ---------------------------------------------------------------------------
# Passwords
# ---------------------------------------------------------------------------

def test_change_password(api, acct):
    h = auth(acct.access)
    new = strong_password()
    fail(api.post(CHANGE_PASSWORD, json={"old_password": "wrong-password-1",
                                         "new_password": new, "new_password_confirm": new},
                  headers=h), 400, "INVALID_CREDENTIALS",
         {"old_password": ["Old password is incorrect."]})
    invalid(api.post(CHANGE_PASSWORD, json={"old_password": acct.password, "new_password": new,
                                            "new_password_confirm": new + "x"}, headers=h),
            {"new_password_confirm": ["Passwords do not match."]})
    body = fail(api.post(CHANGE_PASSWORD, json={"old_password": acct.password,
                                                "new_password": "12345678",
                                                "new_password_confirm": "12345678"}, headers=h),
                400, "WEAK_PASSWORD")
    # Django's rules; "too similar" joins them when the random username happens
    # to share enough digits with the password.
    assert list(body["errors"]) == ["new_password"], body
    assert {COMMON, NUMERIC} <= set(body["errors"]["new_password"]), body
    invalid(api.post(CHANGE_PASSWORD, json={}, headers=h),
            {"old_password": REQUIRED, "new_password": REQUIRED,
             "new_password_confirm": REQUIRED})
    d = ok(api.post(CHANGE_PASSWORD, json={"old_password": acct.password, "new_password": new,
                                           "new_password_confirm": new}, headers=h),
           200, "Password changed successfully")
    assert set(d) == {"access", "refresh"}
    # old tokens stop working, the new pair works
    fail(api.get(PROFILE, headers=h), 401, "INVALID_TOKEN")
    fail(api.post(REFRESH, json={"refresh": acct.refresh}), 401, "INVALID_TOKEN")
    ok(api.get(PROFILE, headers=auth(d["access"])))
    ok(api.post(REFRESH, json={"refresh": d["refresh"]}))
    fail(api.post(LOGIN, json={"username": acct.email, "password": acct.password}), 401,
         "INVALID_CREDENTIALS")
    login(api, acct.email, new)


def test_password_reset_flow(api, mailbox, acct):
    r = api.post(RESET, json={"email": acct.email.upper()})
    assert ok(r, 200, RESET_SENT) is None
    msg = mailbox.wait_for(acct.email, subject_contains="Reset")
    uid, token = link_params(msg, "reset-password")
    assert token in mail_text(msg)
    new = strong_password()
    invalid(api.post(RESET_CONFIRM, json={"token": token, "new_password": new,
                                          "new_password_confirm": new + "x"}),
            {"new_password_confirm": ["Passwords do not match."]})
    fail(api.post(RESET_CONFIRM, json={"token": token, "new_password": "Zq9!x",
                                       "new_password_confirm": "Zq9!x"}),
         400, "WEAK_PASSWORD", {"new_password": [TOO_SHORT]})
    ok(api.post(RESET_CONFIRM, json={"token": token, "new_password": new,
                                     "new_password_confirm": new}),
       200, "Password has been reset successfully")
    # the token is spent; every old token of the user is revoked
    fail(api.post(RESET_CONFIRM, json={"token": token, "new_password": new,
                                       "new_password_confirm": new}),
         400, "INVALID_TOKEN", BAD_LINK_TOKEN, "Invalid or expired token.")
    fail(api.post(REFRESH, json={"refresh": acct.refresh}), 401, "INVALID_TOKEN")
    fail(api.get(PROFILE, headers=auth(acct.access)), 401, "INVALID_TOKEN")
    login(api, acct.email, new)


def test_password_reset_does_not_tell_who_exists(api, mailbox, acct):
    nobody = unique_email("nobody")
    assert ok(api.post(RESET, json={"email": nobody}), 200, RESET_SENT) is None
    # an email that does arrive (for acct) proves the one for nobody had its chance
    ok(api.post(RESET, json={"email": acct.email}), 200, RESET_SENT)
    mailbox.wait_for(acct.email, subject_contains="Reset")
    assert mailbox.all_to(nobody) == []


def test_password_reset_errors(api, acct):
    invalid(api.post(RESET, json={}), {"email": REQUIRED})
    invalid(api.post(RESET, json={"email": "nope"}), {"email": ["Enter a valid email address."]})
    invalid(api.post(RESET_CONFIRM, json={}),
            {"token": REQUIRED, "new_password": REQUIRED, "new_password_confirm": REQUIRED})
    for token in ("garbage", "1-abc-" + "0" * 32, f"{acct.id:x}-zz-" + "f" * 32):
        fail(api.post(RESET_CONFIRM, json={"token": token, "new_password": "Brand-new-pass-1",
                                           "new_password_confirm": "Brand-new-pass-1"}),
             400, "INVALID_TOKEN", BAD_LINK_TOKEN)


def test_reset_token_is_not_a_verification_token(api, mailbox):
    body = reg_body()
    ok(api.post(REGISTER, json=body), 201)
    verify_token = verification_token(mailbox, body["email"])
    ok(api.post(RESET, json={"email": body["email"]}))
    token = reset_token(mailbox, body["email"])
    fail(api.post(VERIFY, json={"token": token}), 400, "INVALID_TOKEN", BAD_LINK_TOKEN)
    fail(api.post(RESET_CONFIRM, json={"token": verify_token, "new_password": "Brand-new-pass-1",
                                       "new_password_confirm": "Brand-new-pass-1"}),
         400, "INVALID_TOKEN")


# ---------------------------------------------------------------------------
# Email verification
# ---------------------------------------------------------------------------

def test_resend_by_email_for_a_user_who_cannot_log_in(api, mailbox):
    body = reg_body()
    ok(api.post(REGISTER, json=body), 201)
    first = verification_token(mailbox, body["email"])
    assert ok(api.post(RESEND, json={"email": body["email"]}), 200, RESEND_SENT) is None
    second = verification_token(mailbox, body["email"])
    ok(api.post(VERIFY, json={"token": second}), 200)
    login(api, body["email"], body["password"])
    del first  # spent by the verification too (bound to the verified state)


def test_resend_same_answer_for_unknown_and_verified(api, mailbox, acct):
    nobody = unique_email("nobody")
    before = len(mailbox.all_to(acct.email))
    for addr in (nobody, acct.email):
        assert ok(api.post(RESEND, json={"email": addr}), 200, RESEND_SENT) is None
    # a real resend afterwards arrives; by then the two above would have too
    pending = reg_body()
    ok(api.post(REGISTER, json=pending), 201)
    verification_token(mailbox, pending["email"])
    ok(api.post(RESEND, json={"email": pending["email"]}), 200, RESEND_SENT)
    verification_token(mailbox, pending["email"])
    assert mailbox.all_to(nobody) == []
    assert len(mailbox.all_to(acct.email)) == before


def test_resend_errors(api):
    invalid(api.post(RESEND, json={}), {"email": REQUIRED})
    invalid(api.post(RESEND, json={"email": "x"}), {"email": ["Enter a valid email address."]})


def test_resend_for_the_signed_in_user(api, mailbox, acct):
    # A verified user: nothing to resend.
    fail(api.post(RESEND, headers=auth(acct.access)), 400, "EMAIL_ALREADY_VERIFIED", {},
         "Email address is already verified.")
    # An unverified user holding a token of another surface (v1 issues tokens at once).
    addr = unique_email("v1")
    d = api.register(email=addr)["data"]
    verification_token(mailbox, addr)  # the registration's email
    ok(api.post(RESEND, headers=auth(d["access_token"])), 200, "Verification email sent.")
    token = verification_token(mailbox, addr)
    ok(api.post(VERIFY, json={"token": token}))


def test_verify_errors(api):
    invalid(api.post(VERIFY, json={}), {"token": REQUIRED})
    invalid(api.post(VERIFY, json={"token": ""}), {"token": BLANK})
    fail(api.post(VERIFY, json={"token": "garbage"}), 400, "INVALID_TOKEN", BAD_LINK_TOKEN,
         "Invalid or expired token.")


def test_unverified_user_is_refused_on_account_routes(api, mailbox):
    d = api.register(email=unique_email("v1"))["data"]
    h = auth(d["access_token"])
    for method, path in (("GET", PROFILE), ("PUT", PROFILE), ("GET", ADDRESSES),
                         ("GET", PREFERENCES), ("POST", DEACTIVATE)):
        fail(api.request(method, path, json={}, headers=h), 403, "EMAIL_NOT_VERIFIED", {})
    # logging out stays open
    ok(api.post(LOGOUT, json={"refresh": d["refresh_token"]}, headers=h))


# ---------------------------------------------------------------------------
# Email preferences
# ---------------------------------------------------------------------------

def test_email_preferences(api, acct, other):
    h = auth(acct.access)
    assert ok(api.get(PREFERENCES, headers=h), 200,
              "Email preferences retrieved successfully") == DEFAULT_PREFERENCES
    p = ok(api.put(PREFERENCES, json={"marketing": True, "inventory_alerts": True}, headers=h),
           200, "Email preferences updated successfully")
    want = dict(DEFAULT_PREFERENCES, marketing=True, inventory_alerts=True)
    assert p == want
    assert ok(api.get(PREFERENCES, headers=h)) == want
    # a partial update leaves the rest; DRF's boolean spellings are booleans
    p = ok(api.put(PREFERENCES, json={"receive_digest": "false", "order_confirmation": 0,
                                      "unknown": "ignored"}, headers=h))
    want.update(receive_digest=False, order_confirmation=False)
    assert p == want
    # PATCH does the same (DRF's update view has it)
    p = ok(api.patch(PREFERENCES, json={"marketing": "off"}, headers=h))
    want.update(marketing=False)
    assert p == want
    # an empty body changes nothing
    assert ok(api.put(PREFERENCES, json={}, headers=h)) == want
    # another user's preferences are their own
    assert ok(api.get(PREFERENCES, headers=auth(other.access))) == DEFAULT_PREFERENCES


@pytest.mark.parametrize("value,errors", [
    ("maybe", NOT_BOOLEAN), (2, NOT_BOOLEAN), (None, NOT_NULL), ([], NOT_BOOLEAN),
    ({}, NOT_BOOLEAN), (1.5, NOT_BOOLEAN), ("", NOT_BOOLEAN),
])
def test_email_preferences_refuse_non_booleans(api, acct, value, errors):
    h = auth(acct.access)
    invalid(api.put(PREFERENCES, json={"marketing": True, "password_reset": value}, headers=h),
            {"password_reset": errors})
    assert ok(api.get(PREFERENCES, headers=h)) == DEFAULT_PREFERENCES  # nothing written


# ---------------------------------------------------------------------------
# Deactivation
# ---------------------------------------------------------------------------

def test_deactivate(api, acct):
    h = auth(acct.access)
    invalid(api.post(DEACTIVATE, json={}, headers=h), {"password": REQUIRED})
    fail(api.post(DEACTIVATE, json={"password": "wrong-password-1", "reason": "x"}, headers=h),
         400, "INVALID_CREDENTIALS", {"password": ["Password is incorrect."]})
    ok(api.get(PROFILE, headers=h))  # still active
    ok(api.post(DEACTIVATE, json={"password": acct.password, "reason": "No longer needed"},
                headers=h), 200, "Account deactivated successfully")
    fail(api.get(PROFILE, headers=h), 401, "ACCOUNT_DISABLED", {})
    fail(api.post(REFRESH, json={"refresh": acct.refresh}), 401, "INVALID_TOKEN")
    fail(api.post(LOGIN, json={"username": acct.email, "password": acct.password}), 403,
         "ACCOUNT_DISABLED", {})
    # a wrong password still says only "invalid credentials"
    fail(api.post(LOGIN, json={"username": acct.email, "password": "wrong-password-1"}), 401,
         "INVALID_CREDENTIALS")
    # and no other surface lets the user in either
    r = api.post("/api/v1/auth/login/", json={"email": acct.email, "password": acct.password})
    assert r.status_code == 400


# ---------------------------------------------------------------------------
# Moving between surfaces
# ---------------------------------------------------------------------------

def test_user_registered_on_v1_logs_in_here(api, mailbox):
    addr = unique_email("v1")
    pw = strong_password()
    api.register(email=addr, password=pw)
    fail(api.post(LOGIN, json={"username": addr, "password": pw}), 403, "EMAIL_NOT_VERIFIED")
    ok(api.post(VERIFY, json={"token": verification_token(mailbox, addr)}))
    d = login(api, addr, pw)
    assert d["user"]["email"] == addr and d["user"]["username"] == addr
    # the tokens of either surface work on the other
    v1 = api.login(addr, pw)
    ok(api.get(PROFILE, headers=auth(v1.access)))
    assert expect(api.get("/api/v1/auth/profile/", headers=auth(d["access"])), 200)["email"] == addr


def test_user_registered_here_logs_in_on_v1(api, acct):
    t = api.login(acct.email, acct.password)
    assert t.user["id"] == acct.id


# ---------------------------------------------------------------------------
# Rate limits (the document's numbers: SHOPD_RATE_LIMITS="")
# ---------------------------------------------------------------------------

def assert_throttled(r, window):
    body = fail(r, 429, "RATE_LIMITED", {})
    assert body["message"].startswith("Request was throttled."), body
    retry = int(r.headers["Retry-After"])
    # The limiter estimates a sliding window from two fixed ones: the wait can
    # reach into the next window, never past two.
    assert 0 < retry <= 2 * window


def test_login_rate_limit(make_server):
    api = Api(make_server(SHOPD_RATE_LIMITS=""))
    for _ in range(5):
        fail(api.post(LOGIN, json={"username": "nobody", "password": "x-y-z-1-2-3"}), 401,
             "INVALID_CREDENTIALS")
    assert_throttled(api.post(LOGIN, json={"username": "nobody", "password": "x"}), 60)


def test_register_rate_limit(make_server):
    api = Api(make_server(SHOPD_RATE_LIMITS=""))
    for _ in range(3):
        api.post(REGISTER, json={})
    assert_throttled(api.post(REGISTER, json=reg_body()), 3600)


def test_password_reset_rate_limit_is_per_email(make_server):
    api = Api(make_server(SHOPD_RATE_LIMITS=""))
    addr = unique_email()
    for i in range(3):
        ok(api.post(RESET, json={"email": addr if i % 2 else addr.upper()}))
    assert_throttled(api.post(RESET, json={"email": addr}), 3600)
    ok(api.post(RESET, json={"email": unique_email()}))  # another email is not limited


def test_profile_update_rate_limit(make_server, create_admin):
    s = make_server(SHOPD_RATE_LIMITS="")
    api = Api(s)
    addr, pw = unique_email("admin"), strong_password()
    create_admin(s, addr, pw)  # verified from the start
    h = auth(login(api, addr, pw)["access"])
    writes = [lambda: api.put(PROFILE, json={"first_name": "A"}, headers=h),
              lambda: api.put(PREFERENCES, json={"marketing": True}, headers=h),
              lambda: api.post(ADDRESSES, json={"address_line_1": "x", "city": "y"}, headers=h),
              lambda: upload(api, h["Authorization"][7:], png_bytes())]
    for i in range(10):
        r = writes[i % len(writes)]()
        assert r.status_code in (200, 201), r.text
    assert_throttled(api.put(PROFILE, json={"first_name": "B"}, headers=h), 60)
    assert_throttled(api.post(ADDRESSES, json={"address_line_1": "x", "city": "y"}, headers=h), 60)
    ok(api.get(PROFILE, headers=h))  # reading is not an update


def test_resend_rate_limit(make_server):
    api = Api(make_server(SHOPD_RATE_LIMITS=""))
    addr = unique_email()
    for _ in range(3):
        ok(api.post(RESEND, json={"email": addr}))
    assert_throttled(api.post(RESEND, json={"email": addr}), 3600)
