"""/api/v1/auth/: register, login, refresh, profile, change-password (seed 003, endpoints 1-6)."""

import re
import threading
import time
from datetime import datetime, timezone

import pytest

from shopdtest import (TEST_SECRET_KEY, claims_for, decode_token, expect, forge_token,
                       signature_valid, strong_password, unique_email)

REGISTER = "/api/v1/auth/register/"
LOGIN = "/api/v1/auth/login/"
REFRESH = "/api/v1/auth/refresh/"
PROFILE = "/api/v1/auth/profile/"
CHANGE_PASSWORD = "/api/v1/auth/change-password/"

REQUIRED = ["This field is required."]
BLANK = ["This field may not be blank."]
NOT_A_STRING = ["Not a valid string."]
INVALID_EMAIL = ["Enter a valid email address."]
EMAIL_EXISTS = {"email": ["A user with this email already exists."]}
INVALID_CREDENTIALS = {"non_field_errors": ["Invalid credentials"]}
TOO_SHORT = "This password is too short. It must contain at least 8 characters."
ENTIRELY_NUMERIC = "This password is entirely numeric."
TOO_COMMON = "This password is too common."
# Django checks username before email; v1 usernames are the email, so Django names the username.
SIMILAR_TO_EMAIL = "The password is too similar to the username."

NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}
REFRESH_INVALID = {"detail": "Token is invalid or expired", "code": "token_not_valid"}
REFRESH_BLACKLISTED = {"detail": "Token is blacklisted", "code": "token_not_valid"}
REFRESH_WRONG_TYPE = {"detail": "Token has wrong type", "code": "token_not_valid"}


def access_refused(message):
    return {"detail": "Given token not valid for any token type", "code": "token_not_valid",
            "messages": [{"token_class": "AccessToken", "token_type": "access", "message": message}]}


ACCESS_INVALID = access_refused("Token is invalid or expired")
ACCESS_WRONG_TYPE = access_refused("Token has wrong type")

PROFILE_KEYS = {"id", "email", "username", "first_name", "last_name", "user_type", "date_joined"}
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
JWT_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
JTI_RE = re.compile(r"^[0-9a-f]{32}$")


def reg_body(email=None, password=None, **extra):
    password = strong_password() if password is None else password
    email = unique_email() if email is None else email
    body = {"email": email, "password": password, "password_confirm": password}
    body.update(extra)
    return body


def assert_auth_payload(body, message, email, user_type="customer"):
    """The register / login body: {"message", "data": {access_token, refresh_token, user}}."""
    assert set(body) == {"message", "data"}, body
    assert body["message"] == message
    data = body["data"]
    assert set(data) == {"access_token", "refresh_token", "user"}, data
    user = data["user"]
    assert isinstance(user.get("id"), int) and not isinstance(user["id"], bool), user
    assert user == {"id": user["id"], "email": email, "user_type": user_type}
    for t in (data["access_token"], data["refresh_token"]):
        assert isinstance(t, str) and JWT_RE.match(t), t
    return data


def assert_invalid_access(r, message="Token is invalid or expired"):
    assert expect(r, 401) == access_refused(message)


def assert_token_not_valid(r):
    """401 with a simplejwt token_not_valid body (message not fixed by the spec)."""
    body = expect(r, 401)
    assert body.get("code") == "token_not_valid", body
    assert isinstance(body.get("detail"), str), body


def assert_refused_access_token(r):
    """The profile's 401 for a refused access token; the message inside may vary."""
    body = expect(r, 401)
    assert set(body) == {"detail", "code", "messages"}, body
    assert body["detail"] == "Given token not valid for any token type"
    assert body["code"] == "token_not_valid"
    [m] = body["messages"]
    assert set(m) == {"token_class", "token_type", "message"}
    assert (m["token_class"], m["token_type"]) == ("AccessToken", "access")
    assert isinstance(m["message"], str) and m["message"]


def profile_of(api, token):
    return expect(api.get(PROFILE, headers=api.auth(token)), 200)


# ---------------------------------------------------------------------------
# 1. Register
# ---------------------------------------------------------------------------

def test_register_201(api):
    email = unique_email()
    body = reg_body(email, user_type="customer", first_name="John", last_name="Doe")
    r = api.post(REGISTER, json=body)
    data = assert_auth_payload(expect(r, 201), "User registered successfully", email)
    prof = profile_of(api, data["access_token"])
    assert prof == {"id": data["user"]["id"], "email": email, "username": email,
                    "first_name": "John", "last_name": "Doe", "user_type": "customer",
                    "date_joined": prof["date_joined"]}


def test_register_defaults(api):
    # user_type defaults to customer; names are optional
    email = unique_email()
    r = api.post(REGISTER, json=reg_body(email))
    data = assert_auth_payload(expect(r, 201), "User registered successfully", email)
    prof = profile_of(api, data["access_token"])
    assert (prof["first_name"], prof["last_name"], prof["user_type"]) == ("", "", "customer")


def test_register_ids_are_distinct(api):
    a = api.new_user()
    b = api.new_user()
    assert a.id != b.id


def test_register_missing_all_fields(api):
    r = api.post(REGISTER, json={})
    assert expect(r, 400) == {"email": REQUIRED, "password": REQUIRED, "password_confirm": REQUIRED}


@pytest.mark.parametrize("missing", [["email"], ["password"], ["password_confirm"],
                                     ["password", "password_confirm"], ["email", "password_confirm"]])
def test_register_missing_fields(api, missing):
    body = reg_body()
    for f in missing:
        del body[f]
    assert expect(api.post(REGISTER, json=body), 400) == {f: REQUIRED for f in missing}


def test_register_blank_email(api):
    assert expect(api.post(REGISTER, json=reg_body(email="")), 400) == {"email": BLANK}


def test_register_blank_passwords(api):
    body = reg_body()
    body["password"] = body["password_confirm"] = ""
    assert expect(api.post(REGISTER, json=body), 400) == {"password": BLANK, "password_confirm": BLANK}


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.com", "a b@example.com",
                                   "user@example", "user@@example.com"])
def test_register_invalid_email(api, email):
    assert expect(api.post(REGISTER, json=reg_body(email=email)), 400) == {"email": INVALID_EMAIL}


@pytest.mark.parametrize("field,value", [
    ("password", ["Str0ng-Pass-list"]),
    ("first_name", {"a": 1}),
    ("last_name", ["Doe"]),
])
def test_register_non_string_field(api, field, value):
    body = reg_body()
    body[field] = value
    if field == "password":
        body["password_confirm"] = value
        expected = {"password": NOT_A_STRING, "password_confirm": NOT_A_STRING}
    else:
        expected = {field: NOT_A_STRING}
    assert expect(api.post(REGISTER, json=body), 400) == expected


@pytest.mark.parametrize("value", [["a@example.com"], {"email": "a@example.com"}])
def test_register_non_string_email(api, value):
    # DRF's EmailField says "Enter a valid email address." here, the spec "Not a valid
    # string."; either is a clean field error.
    body = expect(api.post(REGISTER, json=reg_body(email=value)), 400)
    assert set(body) == {"email"}, body
    assert body["email"] in (NOT_A_STRING, INVALID_EMAIL), body


def test_register_password_mismatch(api):
    body = reg_body()
    body["password_confirm"] = body["password"] + "-other"
    assert expect(api.post(REGISTER, json=body), 400) == {"password_confirm": ["Passwords do not match"]}


@pytest.mark.parametrize("email,password,message", [
    (None, "short1", TOO_SHORT),
    (None, "12345678901", ENTIRELY_NUMERIC),
    (None, "password", TOO_COMMON),
    ("johnsmith@example.com", "johnsmith1", SIMILAR_TO_EMAIL),
], ids=["short", "numeric", "common", "similar"])
def test_register_weak_password(api, email, password, message):
    req = reg_body(email=email, password=password)
    body = expect(api.post(REGISTER, json=req), 400)
    assert set(body) == {"password"}, body
    assert message in body["password"], body
    assert all(isinstance(m, str) for m in body["password"])
    # nothing was created
    assert expect(api.post(LOGIN, json={"email": req["email"], "password": password}), 400) \
        == INVALID_CREDENTIALS


def test_register_weak_password_lists_every_broken_rule(api):
    body = expect(api.post(REGISTER, json=reg_body(password="1234567")), 400)
    assert set(body) == {"password"}
    assert TOO_SHORT in body["password"] and ENTIRELY_NUMERIC in body["password"], body


def test_register_duplicate_email_any_case(api):
    local = "Dup-" + unique_email().split("@")[0]
    email = f"{local}@example.com"
    api.register(email=email)
    for again in (email, email.lower(), email.upper(), f"{local.swapcase()}@Example.COM"):
        r = api.post(REGISTER, json=reg_body(email=again))
        assert expect(r, 400) == EMAIL_EXISTS, again


def test_register_admin_anonymously_is_refused(api):
    body = reg_body(user_type="admin")
    r = api.post(REGISTER, json=body)
    assert expect(r, 400) == {"user_type": ["Only an admin can create admin accounts."]}
    r = api.post(LOGIN, json={"email": body["email"], "password": body["password"]})
    assert expect(r, 400) == INVALID_CREDENTIALS
    # and the email is still free
    api.register(email=body["email"])


def test_register_admin_by_customer_is_refused(api, user):
    body = reg_body(user_type="admin")
    r = api.post(REGISTER, json=body, headers=api.auth(user.access))
    assert expect(r, 400) == {"user_type": ["Only an admin can create admin accounts."]}
    assert expect(api.post(LOGIN, json={"email": body["email"], "password": body["password"]}), 400) \
        == INVALID_CREDENTIALS


def test_register_invalid_user_type(api):
    r = api.post(REGISTER, json=reg_body(user_type="wizard"))
    assert expect(r, 400) == {"user_type": ['"wizard" is not a valid choice.']}


def test_admin_can_register_admin(api, admin):
    body = reg_body(user_type="admin")
    r = api.post(REGISTER, json=body, headers=api.auth(admin.access))
    data = assert_auth_payload(expect(r, 201), "User registered successfully", body["email"], "admin")
    assert profile_of(api, data["access_token"])["user_type"] == "admin"
    t = api.login(body["email"], body["password"])
    assert t.user["user_type"] == "admin"


def test_admin_can_register_customer(api, admin):
    body = reg_body()
    r = api.post(REGISTER, json=body, headers=api.auth(admin.access))
    assert_auth_payload(expect(r, 201), "User registered successfully", body["email"], "customer")


def test_concurrent_registrations_of_one_email(api):
    email = unique_email("race")
    n = 16
    barrier = threading.Barrier(n)
    results = [None] * n
    password = strong_password()

    def worker(i):
        barrier.wait()
        try:
            results[i] = api.post(REGISTER, json=reg_body(email, password))
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    errors = [r for r in results if not hasattr(r, "status_code")]
    assert not errors, errors
    created = [r for r in results if r.status_code == 201]
    assert len(created) == 1, [(r.status_code, r.text) for r in results]
    for r in results:
        if r.status_code != 201:
            assert expect(r, 400) == EMAIL_EXISTS
    user_id = created[0].json()["data"]["user"]["id"]
    assert api.login(email, password).user["id"] == user_id


def test_register_tokens(api):
    email = unique_email()
    before = int(time.time())
    data = expect(api.post(REGISTER, json=reg_body(email)), 201)["data"]
    after = int(time.time())
    uid = data["user"]["id"]
    access, refresh = data["access_token"], data["refresh_token"]

    for token, kind, lifetime in ((access, "access", 900), (refresh, "refresh", 86400)):
        header, claims = decode_token(token)
        assert header == {"alg": "HS256", "typ": "JWT"}
        assert set(claims) == {"token_type", "exp", "iat", "jti", "user_id"}, claims
        assert claims["token_type"] == kind
        assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
        assert claims["exp"] - claims["iat"] == lifetime
        assert before - 1 <= claims["iat"] <= after + 1
        assert JTI_RE.match(claims["jti"]), claims["jti"]
        assert claims["user_id"] == uid and isinstance(claims["user_id"], int)
        assert signature_valid(token, TEST_SECRET_KEY)
        assert not signature_valid(token, TEST_SECRET_KEY + "x")
    assert decode_token(access)[1]["jti"] != decode_token(refresh)[1]["jti"]


def test_token_lifetimes_are_configurable(make_server):
    s = make_server(SHOPD_ACCESS_TOKEN_LIFETIME="60", SHOPD_REFRESH_TOKEN_LIFETIME="7200")
    u = s.api.new_user()
    a = decode_token(u.access)[1]
    r = decode_token(u.refresh)[1]
    assert a["exp"] - a["iat"] == 60
    assert r["exp"] - r["iat"] == 7200


# ---------------------------------------------------------------------------
# 2. Login
# ---------------------------------------------------------------------------

def test_login_200(api, user):
    r = api.post(LOGIN, json={"email": user.email, "password": user.password})
    data = assert_auth_payload(expect(r, 200), "Login successful", user.email)
    assert data["user"]["id"] == user.id
    assert decode_token(data["access_token"])[1]["user_id"] == user.id
    assert profile_of(api, data["access_token"])["id"] == user.id
    # each login issues new tokens
    assert data["access_token"] != user.access and data["refresh_token"] != user.refresh


def test_login_email_is_case_insensitive(api, user):
    for variant in (user.email.upper(), user.email.capitalize()):
        r = api.post(LOGIN, json={"email": variant, "password": user.password})
        data = assert_auth_payload(expect(r, 200), "Login successful", user.email)
        assert data["user"]["id"] == user.id


@pytest.mark.parametrize("which", ["wrong-password", "unknown-email", "password-case"])
def test_login_invalid_credentials(api, user, which):
    email, password = user.email, user.password
    if which == "wrong-password":
        password += "x"
    elif which == "unknown-email":
        email = unique_email()
    else:
        password = password.swapcase()
    r = api.post(LOGIN, json={"email": email, "password": password})
    assert expect(r, 400) == INVALID_CREDENTIALS


def test_login_missing_fields(api):
    assert expect(api.post(LOGIN, json={}), 400) == {"email": REQUIRED, "password": REQUIRED}
    assert expect(api.post(LOGIN, json={"email": unique_email()}), 400) == {"password": REQUIRED}
    assert expect(api.post(LOGIN, json={"password": "Str0ng-x"}), 400) == {"email": REQUIRED}


# ---------------------------------------------------------------------------
# 3. Refresh
# ---------------------------------------------------------------------------

def test_refresh_rotates(api, user):
    r = api.post(REFRESH, json={"refresh": user.refresh})
    body = expect(r, 200)
    assert set(body) == {"access", "refresh"}, body
    h, a = decode_token(body["access"])
    assert h == {"alg": "HS256", "typ": "JWT"}
    assert a["token_type"] == "access" and a["user_id"] == user.id
    assert a["exp"] - a["iat"] == 900
    _, rc = decode_token(body["refresh"])
    assert rc["token_type"] == "refresh" and rc["user_id"] == user.id
    assert rc["jti"] != decode_token(user.refresh)[1]["jti"]
    assert signature_valid(body["access"]) and signature_valid(body["refresh"])
    assert profile_of(api, body["access"])["id"] == user.id
    # the new refresh token works in turn
    body2 = expect(api.post(REFRESH, json={"refresh": body["refresh"]}), 200)
    assert body2["refresh"] != body["refresh"]


def test_refresh_reuse_revokes_the_whole_family(api, user):
    first = expect(api.post(REFRESH, json={"refresh": user.refresh}), 200)
    other_session = api.login(user.email, user.password)

    r = api.post(REFRESH, json={"refresh": user.refresh})
    assert expect(r, 401) == REFRESH_BLACKLISTED
    # the rotated token and every other outstanding refresh token of the user are revoked
    assert_token_not_valid(api.post(REFRESH, json={"refresh": first["refresh"]}))
    assert_token_not_valid(api.post(REFRESH, json={"refresh": other_session.refresh}))
    # a fresh login still works
    t = api.login(user.email, user.password)
    assert expect(api.post(REFRESH, json={"refresh": t.refresh}), 200)["access"]


def test_refresh_reuse_does_not_touch_other_users(api):
    a, b = api.new_user(), api.new_user()
    expect(api.post(REFRESH, json={"refresh": a.refresh}), 200)
    assert expect(api.post(REFRESH, json={"refresh": a.refresh}), 401) == REFRESH_BLACKLISTED
    assert expect(api.post(REFRESH, json={"refresh": b.refresh}), 200)["access"]


def test_refresh_forged_with_the_key_is_accepted(api, user):
    # a simplejwt-style token from a Django service holding the same key (positive
    # control for the forged tokens below)
    token = forge_token(claims_for(user.id, "refresh", 86400))
    body = expect(api.post(REFRESH, json={"refresh": token}), 200)
    assert decode_token(body["access"])[1]["user_id"] == user.id


def tampered(token, **changes):
    """Same signature, payload changed."""
    h, p, s = token.split(".")
    _, claims = decode_token(token)
    claims.update(changes)
    forged = forge_token(claims, key="irrelevant")
    return ".".join([h, forged.split(".")[1], s])


def bad_refresh_tokens(user):
    now = int(time.time())
    return {
        "garbage": "garbage",
        "empty-parts": "..",
        "not-base64": "abc.def.ghi",
        "tampered-user": tampered(user.refresh, user_id=user.id + 1),
        "tampered-exp": tampered(user.refresh, exp=now + 10 * 86400),
        "truncated-signature": user.refresh[:-4],
        "expired": forge_token(claims_for(user.id, "refresh", 60, now=now - 3600)),
        "alg-none": forge_token(claims_for(user.id, "refresh", 86400), alg="none"),
        "alg-None-with-sig": forge_token(claims_for(user.id, "refresh", 86400),
                                         header={"alg": "None", "typ": "JWT"}),
        "alg-HS512": forge_token(claims_for(user.id, "refresh", 86400), alg="HS512"),
        "other-key": forge_token(claims_for(user.id, "refresh", 86400), key="another-secret-key-0123456789"),
    }


BAD_REFRESH_CASES = ["garbage", "empty-parts", "not-base64", "tampered-user", "tampered-exp",
                     "truncated-signature", "expired", "alg-none", "alg-None-with-sig", "alg-HS512",
                     "other-key"]


@pytest.mark.parametrize("case", BAD_REFRESH_CASES)
def test_refresh_invalid_token(api, user, case):
    token = bad_refresh_tokens(user)[case]
    assert expect(api.post(REFRESH, json={"refresh": token}), 401) == REFRESH_INVALID
    # the genuine token is untouched by the attempt
    assert expect(api.post(REFRESH, json={"refresh": user.refresh}), 200)["access"]


def test_refresh_with_access_token(api, user):
    r = api.post(REFRESH, json={"refresh": user.access})
    assert expect(r, 401) == REFRESH_WRONG_TYPE


def test_refresh_missing_field(api):
    assert expect(api.post(REFRESH, json={}), 400) == {"refresh": REQUIRED}


def test_refresh_token_expires(make_server):
    s = make_server(SHOPD_REFRESH_TOKEN_LIFETIME="1")
    api = s.api
    u = api.new_user()
    exp = decode_token(u.refresh)[1]["exp"]
    time.sleep(max(0.0, exp + 1.2 - time.time()))
    assert expect(api.post(REFRESH, json={"refresh": u.refresh}), 401) == REFRESH_INVALID


# ---------------------------------------------------------------------------
# 4. Profile (GET)
# ---------------------------------------------------------------------------

def test_profile_get(api):
    email = unique_email()
    before = datetime.now(timezone.utc).replace(microsecond=0)
    data = expect(api.post(REGISTER, json=reg_body(email, first_name="Ann", last_name="Lee")), 201)["data"]
    r = api.get(PROFILE, headers=api.auth(data["access_token"]))
    prof = expect(r, 200)
    assert set(prof) == PROFILE_KEYS
    assert prof == {"id": data["user"]["id"], "email": email, "username": email, "first_name": "Ann",
                    "last_name": "Lee", "user_type": "customer", "date_joined": prof["date_joined"]}
    assert DATE_RE.match(prof["date_joined"]), prof["date_joined"]
    joined = datetime.strptime(prof["date_joined"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs((joined - before).total_seconds()) < 120, (joined, before)


def test_profile_without_credentials(api):
    r = api.get(PROFILE)
    assert expect(r, 401) == NOT_PROVIDED
    assert r.headers.get("WWW-Authenticate") == 'Bearer realm="api"'


def bad_access_tokens(user):
    now = int(time.time())
    return {
        "garbage": "garbage",
        "not-base64": "abc.def.ghi",
        "tampered-user": tampered(user.access, user_id=user.id + 1),
        "tampered-exp": tampered(user.access, exp=now + 86400),
        "expired": forge_token(claims_for(user.id, "access", 60, now=now - 3600)),
        "alg-none": forge_token(claims_for(user.id, "access"), alg="none"),
        "alg-HS384": forge_token(claims_for(user.id, "access"), alg="HS384"),
        "other-key": forge_token(claims_for(user.id, "access"), key="another-secret-key-0123456789"),
    }


@pytest.mark.parametrize("case", ["garbage", "not-base64", "tampered-user", "tampered-exp", "expired",
                                  "alg-none", "alg-HS384", "other-key"])
def test_profile_invalid_token(api, user, case):
    token = bad_access_tokens(user)[case]
    r = api.get(PROFILE, headers=api.auth(token))
    assert_invalid_access(r)
    # the same request with the genuine token works
    assert profile_of(api, user.access)["id"] == user.id


def test_profile_forged_token_with_the_key_is_accepted(api, user):
    # positive control: a simplejwt token signed with the shared key is valid
    token = forge_token(claims_for(user.id, "access"))
    assert profile_of(api, token)["id"] == user.id
    # user_id as a string of digits, as some simplejwt versions write it
    token = forge_token(claims_for(str(user.id), "access"))
    assert profile_of(api, token)["id"] == user.id


def test_profile_with_refresh_token(api, user):
    assert_invalid_access(api.get(PROFILE, headers=api.auth(user.refresh)), "Token has wrong type")


def test_access_token_expires(make_server):
    # 2 s, so that the access token refreshed below is surely still valid when used
    s = make_server(SHOPD_ACCESS_TOKEN_LIFETIME="2")
    api = s.api
    u = api.new_user()
    exp = decode_token(u.access)[1]["exp"]
    time.sleep(max(0.0, exp + 1.2 - time.time()))
    assert_invalid_access(api.get(PROFILE, headers=api.auth(u.access)))
    # the refresh token still gets a new access token
    body = expect(api.post(REFRESH, json={"refresh": u.refresh}), 200)
    assert profile_of(api, body["access"])["id"] == u.id


# ---------------------------------------------------------------------------
# 5. Profile (PUT / PATCH)
# ---------------------------------------------------------------------------

def test_patch_first_name(api, user):
    before = profile_of(api, user.access)
    r = api.patch(PROFILE, json={"first_name": "Jane"}, headers=api.auth(user.access))
    after = expect(r, 200)
    assert after == dict(before, first_name="Jane")
    assert profile_of(api, user.access) == after


def test_patch_email_syncs_username(api, user):
    before = profile_of(api, user.access)
    new_email = unique_email("new")
    r = api.patch(PROFILE, json={"email": new_email, "first_name": "Jane", "last_name": "Smith"},
                  headers=api.auth(user.access))
    after = expect(r, 200)
    assert after == dict(before, email=new_email, username=new_email, first_name="Jane", last_name="Smith")
    assert profile_of(api, user.access) == after
    t = api.login(new_email, user.password)
    assert t.user == {"id": user.id, "email": new_email, "user_type": "customer"}
    r = api.post(LOGIN, json={"email": user.email, "password": user.password})
    assert expect(r, 400) == INVALID_CREDENTIALS
    # the old address is free again
    api.register(email=user.email)


def test_patch_email_in_use(api, user):
    other = api.new_user()
    for taken in (other.email, other.email.upper()):
        r = api.patch(PROFILE, json={"email": taken}, headers=api.auth(user.access))
        assert expect(r, 400) == {"email": ["This email is already in use."]}
    assert profile_of(api, user.access)["email"] == user.email


def test_patch_own_email_is_fine(api, user):
    r = api.patch(PROFILE, json={"email": user.email}, headers=api.auth(user.access))
    assert expect(r, 200)["email"] == user.email


def test_patch_user_type_is_read_only(api, user):
    r = api.patch(PROFILE, json={"user_type": "admin"}, headers=api.auth(user.access))
    assert expect(r, 200)["user_type"] == "customer"
    assert profile_of(api, user.access)["user_type"] == "customer"
    assert api.login(user.email, user.password).user["user_type"] == "customer"


def test_patch_read_only_fields_are_ignored(api, user):
    before = profile_of(api, user.access)
    r = api.patch(PROFILE, json={"id": before["id"] + 1000, "date_joined": "2000-01-01T00:00:00Z",
                                 "username": "someone-else"}, headers=api.auth(user.access))
    assert expect(r, 200) == before


def test_patch_invalid_email(api, user):
    r = api.patch(PROFILE, json={"email": "not-an-email"}, headers=api.auth(user.access))
    assert expect(r, 400) == {"email": INVALID_EMAIL}
    assert profile_of(api, user.access)["email"] == user.email


def test_put_requires_email(api, user):
    r = api.put(PROFILE, json={"first_name": "A", "last_name": "B"}, headers=api.auth(user.access))
    assert expect(r, 400) == {"email": REQUIRED}
    assert profile_of(api, user.access)["first_name"] == ""


def test_put_all_fields(api, user):
    before = profile_of(api, user.access)
    new_email = unique_email("put")
    r = api.put(PROFILE, json={"email": new_email, "first_name": "Ada", "last_name": "Lovelace"},
                headers=api.auth(user.access))
    after = expect(r, 200)
    assert after == dict(before, email=new_email, username=new_email, first_name="Ada",
                         last_name="Lovelace")
    assert profile_of(api, user.access) == after


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH"])
def test_profile_requires_auth(api, method):
    r = api.request(method, PROFILE, json={"first_name": "X"})
    assert expect(r, 401) == NOT_PROVIDED


# ---------------------------------------------------------------------------
# 6. Change password
# ---------------------------------------------------------------------------

def change_body(old, new, confirm=None):
    return {"old_password": old, "new_password": new,
            "new_password_confirm": new if confirm is None else confirm}


def test_change_password(api, user):
    other_session = api.login(user.email, user.password)
    new = strong_password()
    r = api.post(CHANGE_PASSWORD, json=change_body(user.password, new), headers=api.auth(user.access))
    assert expect(r, 200) == {"message": "Password changed successfully"}

    # tokens issued before the change are refused at once
    assert_refused_access_token(api.get(PROFILE, headers=api.auth(user.access)))
    assert_refused_access_token(api.get(PROFILE, headers=api.auth(other_session.access)))
    assert_token_not_valid(api.post(REFRESH, json={"refresh": user.refresh}))
    assert_token_not_valid(api.post(REFRESH, json={"refresh": other_session.refresh}))

    # the new password works, the old one does not
    assert expect(api.post(LOGIN, json={"email": user.email, "password": user.password}), 400) \
        == INVALID_CREDENTIALS
    t = api.login(user.email, new)
    # tokens issued right after the change (same second) are valid
    assert profile_of(api, t.access)["id"] == user.id
    assert expect(api.post(REFRESH, json={"refresh": t.refresh}), 200)["access"]


def test_change_password_wrong_old(api, user):
    r = api.post(CHANGE_PASSWORD, json=change_body(user.password + "x", strong_password()),
                 headers=api.auth(user.access))
    assert expect(r, 400) == {"old_password": ["Old password is incorrect"]}
    # nothing changed
    assert profile_of(api, user.access)["id"] == user.id
    api.login(user.email, user.password)


def test_change_password_mismatch(api, user):
    new = strong_password()
    r = api.post(CHANGE_PASSWORD, json=change_body(user.password, new, new + "-other"),
                 headers=api.auth(user.access))
    assert expect(r, 400) == {"new_password": ["New passwords do not match"]}
    api.login(user.email, user.password)


@pytest.mark.parametrize("new,message", [("short1", TOO_SHORT), ("12345678901", ENTIRELY_NUMERIC),
                                         ("password", TOO_COMMON)], ids=["short", "numeric", "common"])
def test_change_password_weak(api, user, new, message):
    r = api.post(CHANGE_PASSWORD, json=change_body(user.password, new), headers=api.auth(user.access))
    body = expect(r, 400)
    assert set(body) == {"new_password"}, body
    assert message in body["new_password"], body
    api.login(user.email, user.password)


def test_change_password_similar_to_email(api):
    u = api.new_user(email=f"marypoppins{unique_email().split('@')[0][-6:]}@example.com")
    local = u.email.split("@")[0]
    r = api.post(CHANGE_PASSWORD, json=change_body(u.password, local + "1"), headers=api.auth(u.access))
    body = expect(r, 400)
    assert set(body) == {"new_password"}, body
    assert SIMILAR_TO_EMAIL in body["new_password"], body


def test_change_password_missing_fields(api, user):
    r = api.post(CHANGE_PASSWORD, json={}, headers=api.auth(user.access))
    assert expect(r, 400) == {"old_password": REQUIRED, "new_password": REQUIRED,
                              "new_password_confirm": REQUIRED}
    r = api.post(CHANGE_PASSWORD, json={"old_password": user.password}, headers=api.auth(user.access))
    assert expect(r, 400) == {"new_password": REQUIRED, "new_password_confirm": REQUIRED}


def test_change_password_requires_auth(api):
    r = api.post(CHANGE_PASSWORD, json=change_body("a", "b"))
    assert expect(r, 401) == NOT_PROVIDED
