"""/api/auth/ (surface campus, seed 004): login, logout, profile, refresh with the full
university user object, and university users provisioned by `shopd user create --json`."""

import copy
import json
import re
import time

import pytest

from shopdtest import (REPO_ROOT, claims_for, decode_token, expect, forge_token, strong_password,
                       unique_email, unique_hex)

LOGIN = "/api/auth/login/"
LOGOUT = "/api/auth/logout/"
PROFILE = "/api/auth/profile/"
REFRESH = "/api/auth/refresh/"

REQUIRED = ["This field is required."]
BLANK = ["This field may not be blank."]
NULL = ["This field may not be null."]
NOT_A_STRING = ["Not a valid string."]

INVALID_CREDENTIALS = {"success": False, "message": "Invalid credentials",
                       "errors": {"non_field_errors": ["Invalid username or password"]}}
ACCOUNT_DISABLED = {"success": False, "message": "Account disabled",
                    "errors": {"non_field_errors": ["User account is disabled."]}}
LOGOUT_OK = {"success": True, "message": "Logout successful"}
LOGOUT_FAILED = {"success": False, "message": "Logout failed"}
REFRESH_INVALID = {"success": False, "message": "Invalid refresh token"}
REFRESH_REQUIRED = {"success": False, "message": "Refresh token required"}
NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}


def validation_failed(errors):
    return {"success": False, "message": "Validation failed", "errors": errors}


def access_refused(message="Token is invalid or expired"):
    return {"detail": "Given token not valid for any token type", "code": "token_not_valid",
            "messages": [{"token_class": "AccessToken", "token_type": "access",
                          "message": message}]}


JWT_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
USER_KEYS = ["id", "username", "email", "first_name", "last_name", "university_id", "user_type",
             "phone_number", "date_of_birth", "major", "academic_level", "enrollment_year",
             "department", "position", "is_student", "is_staff_member", "student_profile",
             "staff_profile"]


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def unique_phone():
    return "+1" + str(int(unique_hex(10), 16))[-10:].rjust(10, "7")


# ---------------------------------------------------------------------------
# Provisioning through the CLI
# ---------------------------------------------------------------------------

def student_spec(**over):
    """The document's student, with unique identifiers."""
    h = unique_hex(8)
    spec = {
        "username": f"john_{h}",
        "email": f"john.{h}@university.edu",
        "password": strong_password(),
        "first_name": "John",
        "last_name": "Doe",
        "university_id": f"STU{h}",
        "user_type": "student",
        "phone_number": unique_phone(),
        "date_of_birth": "2000-01-15",
        "major": "Computer Science",
        "academic_level": "undergraduate",
        "enrollment_year": 2024,
        "department": None,
        "position": None,
        "is_student": True,
        "is_staff_member": False,
        "student_profile": {"student_id": f"CS{h}", "gpa": "3.75", "credits_completed": 45,
                            "graduation_date": "2028-05-15"},
        "staff_profile": None,
    }
    spec.update(over)
    return spec


def staff_spec(**over):
    """The document's staff member, with unique identifiers."""
    h = unique_hex(8)
    spec = {
        "username": f"prof_{h}",
        "email": f"prof.{h}@university.edu",
        "password": strong_password(),
        "first_name": "Ada",
        "last_name": "Lovelace",
        "university_id": f"EMP{h}",
        "user_type": "staff",
        "department": "Computer Science",
        "position": "Professor",
        "staff_profile": {"employee_id": f"EMP{h}", "hire_date": "2020-08-15",
                          "office_location": "Building A, Room 301",
                          "office_hours": "Mon-Fri 2:00-4:00 PM"},
    }
    spec.update(over)
    return spec


def create_user(server, spec):
    """Runs `shopd user create --json` with the server's environment."""
    return server.cli("user", "create", "--json",
                      spec if isinstance(spec, str) else json.dumps(spec))


def provision(server, spec):
    r = create_user(server, spec)
    assert r.returncode == 0, f"user create exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    m = re.search(r"User created successfully \(id (\d+)\)\.", r.stdout)
    assert m, r.stdout
    return int(m.group(1))


def refused(server, spec):
    """Runs user create expecting a refusal; returns {field: [messages]} from stderr."""
    r = create_user(server, spec)
    assert r.returncode == 1, f"user create exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "User created" not in r.stdout
    errors = {}
    for line in r.stderr.splitlines():
        m = re.match(r"^shopd: ([A-Za-z_.]+): (.*)$", line)
        if m:
            errors.setdefault(m.group(1), []).append(m.group(2))
    assert errors, r.stderr
    return errors


def expected_user(uid, spec):
    """The documented user object for a provisioned spec."""
    u = {k: None for k in USER_KEYS}
    u.update({k: v for k, v in spec.items() if k in u})
    u["id"] = uid
    u["first_name"] = spec.get("first_name") or ""
    u["last_name"] = spec.get("last_name") or ""
    u["is_student"] = spec["user_type"] == "student"
    u["is_staff_member"] = spec["user_type"] == "staff"
    return u


def login(api, username, password):
    return expect(api.post(LOGIN, json={"username": username, "password": password}), 200)


def assert_login_body(body, user):
    assert list(body) == ["success", "message", "access_token", "refresh_token", "user"], body
    assert body["success"] is True and body["message"] == "Login successful"
    for t in (body["access_token"], body["refresh_token"]):
        assert isinstance(t, str) and JWT_RE.match(t), t
    assert decode_token(body["access_token"])[1]["token_type"] == "access"
    assert decode_token(body["refresh_token"])[1]["token_type"] == "refresh"
    assert decode_token(body["access_token"])[1]["user_id"] == user["id"]
    assert body["user"] == user
    assert list(body["user"]) == USER_KEYS


@pytest.fixture
def student(server, api):
    """A provisioned student, logged in: (spec, expected user object, login body)."""
    spec = student_spec()
    uid = provision(server, spec)
    body = login(api, spec["username"], spec["password"])
    return spec, expected_user(uid, spec), body


@pytest.fixture
def customer(api):
    """A customer registered through /api/v1/auth/register/ (email not verified)."""
    return api.new_user()


def customer_object(c):
    return {"id": c.id, "username": c.email, "email": c.email, "first_name": "",
            "last_name": "", "university_id": None, "user_type": "customer",
            "phone_number": None, "date_of_birth": None, "major": None, "academic_level": None,
            "enrollment_year": None, "department": None, "position": None, "is_student": False,
            "is_staff_member": False, "student_profile": None, "staff_profile": None}


# ---------------------------------------------------------------------------
# 1. Login
# ---------------------------------------------------------------------------

def test_login_student_full_object(student):
    spec, user, body = student
    assert_login_body(body, user)
    # exactly the document's example, identifiers aside
    assert user["student_profile"] == {"student_id": spec["student_profile"]["student_id"],
                                       "gpa": "3.75", "credits_completed": 45,
                                       "graduation_date": "2028-05-15"}
    assert (user["department"], user["position"], user["staff_profile"]) == (None, None, None)


def test_login_staff_full_object(server, api):
    spec = staff_spec()
    uid = provision(server, spec)
    body = login(api, spec["username"], spec["password"])
    user = expected_user(uid, spec)
    assert_login_body(body, user)
    assert user["is_staff_member"] is True and user["is_student"] is False
    assert body["user"]["staff_profile"] == spec["staff_profile"]
    assert body["user"]["student_profile"] is None
    assert body["user"]["major"] is None and body["user"]["enrollment_year"] is None


def test_login_by_email_and_case(server, api, student):
    spec, user, _ = student
    assert_login_body(login(api, spec["email"], spec["password"]), user)
    assert_login_body(login(api, spec["email"].upper(), spec["password"]), user)
    assert_login_body(login(api, spec["username"].upper(), spec["password"]), user)
    assert_login_body(login(api, f"  {spec['username']} ", spec["password"]), user)


def test_login_form_encoded(api, student):
    spec, user, _ = student
    r = api.post(LOGIN, data={"username": spec["username"], "password": spec["password"]})
    assert_login_body(expect(r, 200), user)


def test_login_customer_from_v1(api, customer):
    body = login(api, customer.email, customer.password)
    assert_login_body(body, customer_object(customer))
    # the tokens work on the other surface too
    assert expect(api.get("/api/v1/auth/profile/", headers=auth(body["access_token"])),
                  200)["id"] == customer.id


def test_login_unverified_is_not_refused(api):
    c = api.new_user(first_name="Grace", last_name="Hopper")
    body = login(api, c.email, c.password)
    assert (body["user"]["first_name"], body["user"]["last_name"]) == ("Grace", "Hopper")


def test_login_wrong_password(api, student):
    spec, _, _ = student
    r = api.post(LOGIN, json={"username": spec["username"], "password": spec["password"] + "x"})
    assert expect(r, 401) == INVALID_CREDENTIALS
    r = api.post(LOGIN, json={"username": spec["email"], "password": "wrong-password-1"})
    assert expect(r, 401) == INVALID_CREDENTIALS


def test_login_unknown_user(api):
    r = api.post(LOGIN, json={"username": "nobody_" + unique_hex(), "password": strong_password()})
    assert expect(r, 401) == INVALID_CREDENTIALS
    r = api.post(LOGIN, json={"username": unique_email(), "password": strong_password()})
    assert expect(r, 401) == INVALID_CREDENTIALS


def test_login_password_is_not_trimmed(api, student):
    spec, _, _ = student
    r = api.post(LOGIN, json={"username": spec["username"], "password": f" {spec['password']}"})
    assert expect(r, 401) == INVALID_CREDENTIALS


def test_login_missing_fields(api):
    assert expect(api.post(LOGIN, json={}), 400) == validation_failed(
        {"username": REQUIRED, "password": REQUIRED})
    assert expect(api.post(LOGIN, json={"username": "x"}), 400) == validation_failed(
        {"password": REQUIRED})
    assert expect(api.post(LOGIN, json={"password": "x"}), 400) == validation_failed(
        {"username": REQUIRED})
    assert expect(api.post(LOGIN), 400) == validation_failed(
        {"username": REQUIRED, "password": REQUIRED})


def test_login_blank_null_and_ill_typed(api):
    r = api.post(LOGIN, json={"username": "  ", "password": ""})
    assert expect(r, 400) == validation_failed({"username": BLANK, "password": BLANK})
    r = api.post(LOGIN, json={"username": None, "password": None})
    assert expect(r, 400) == validation_failed({"username": NULL, "password": NULL})
    r = api.post(LOGIN, json={"username": ["a"], "password": {"p": 1}})
    assert expect(r, 400) == validation_failed({"username": NOT_A_STRING,
                                                "password": NOT_A_STRING})


@pytest.mark.parametrize("data,ctype", [
    ('{"username": "x", "password": ', "application/json"),
    ("[1, 2]", "application/json"),
    ("\x00\xff", "application/json"),
])
def test_login_bad_bodies(api, data, ctype):
    r = api.post(LOGIN, data=data.encode("latin-1"), headers={"Content-Type": ctype})
    assert r.status_code == 400, r.text
    assert r.headers["Content-Type"].startswith("application/json")


def test_login_wrong_method(api):
    r = api.get(LOGIN)
    assert r.status_code == 405


def test_login_inactive_account(server, api):
    spec = student_spec()
    provision(server, spec)
    body = login(api, spec["username"], spec["password"])
    # deactivation is an accounts-surface request (seed 001)
    acc = expect(api.post("/api/accounts/login/", json={"username": spec["email"],
                                                       "password": spec["password"]}), 200)
    r = api.post("/api/accounts/deactivate/", json={"password": spec["password"]},
                 headers=auth(acc["data"]["access"]))
    assert r.status_code == 200, r.text
    r = api.post(LOGIN, json={"username": spec["username"], "password": spec["password"]})
    assert expect(r, 401) == ACCOUNT_DISABLED
    # a wrong password says nothing about the account's state
    r = api.post(LOGIN, json={"username": spec["username"], "password": "wrong-password-1"})
    assert expect(r, 401) == INVALID_CREDENTIALS
    # and the tokens held before are dead
    r = api.post(REFRESH, json={"refresh_token": body["refresh_token"]})
    assert expect(r, 401) == REFRESH_INVALID
    r = api.get(PROFILE, headers=auth(body["access_token"]))
    assert r.status_code == 401


# ---------------------------------------------------------------------------
# 2. Logout
# ---------------------------------------------------------------------------

def test_logout_blacklists_the_refresh_token(api, student):
    _, _, body = student
    r = api.post(LOGOUT, json={"refresh_token": body["refresh_token"]},
                 headers=auth(body["access_token"]))
    assert expect(r, 200) == LOGOUT_OK
    r = api.post(REFRESH, json={"refresh_token": body["refresh_token"]})
    assert expect(r, 401) == REFRESH_INVALID
    # a second logout with the same token fails
    r = api.post(LOGOUT, json={"refresh_token": body["refresh_token"]},
                 headers=auth(body["access_token"]))
    assert expect(r, 400) == LOGOUT_FAILED


def test_logout_leaves_other_sessions(api, student):
    spec, _, first = student
    second = login(api, spec["username"], spec["password"])
    r = api.post(LOGOUT, json={"refresh_token": first["refresh_token"]},
                 headers=auth(first["access_token"]))
    assert expect(r, 200) == LOGOUT_OK
    r = api.post(REFRESH, json={"refresh_token": second["refresh_token"]})
    assert expect(r, 200)["success"] is True


def test_logout_access_token_lives_until_expiry(api, student):
    # as simplejwt's blacklist: only the refresh token is revoked
    _, user, body = student
    r = api.post(LOGOUT, json={"refresh_token": body["refresh_token"]},
                 headers=auth(body["access_token"]))
    expect(r, 200)
    assert expect(api.get(PROFILE, headers=auth(body["access_token"])), 200)["user"] == user


def test_logout_with_a_token_from_another_surface(api, customer):
    tokens = api.login(customer.email, customer.password)  # /api/v1/auth/login/
    r = api.post(LOGOUT, json={"refresh_token": tokens.refresh}, headers=auth(tokens.access))
    assert expect(r, 200) == LOGOUT_OK
    r = api.post("/api/v1/auth/refresh/", json={"refresh": tokens.refresh})
    assert r.status_code == 401


@pytest.mark.parametrize("body", [
    {}, {"refresh_token": ""}, {"refresh_token": None}, {"refresh_token": "not-a-jwt"},
    {"refresh_token": ["x"]}, {"refresh_token": 12}, {"refresh": "x"},
], ids=["missing", "blank", "null", "garbage", "list", "number", "other-name"])
def test_logout_bad_token(api, student, body):
    _, _, tokens = student
    r = api.post(LOGOUT, json=body, headers=auth(tokens["access_token"]))
    assert expect(r, 400) == LOGOUT_FAILED


def test_logout_refuses_access_and_forged_tokens(api, student):
    _, user, tokens = student
    for bad in (tokens["access_token"],
                forge_token(claims_for(user["id"], "refresh"), key="another-key"),
                forge_token(claims_for(user["id"], "refresh", lifetime=-10))):
        r = api.post(LOGOUT, json={"refresh_token": bad}, headers=auth(tokens["access_token"]))
        assert expect(r, 400) == LOGOUT_FAILED
    # the real one still works
    r = api.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert expect(r, 200)["success"] is True


def test_logout_someone_elses_token(server, api, student, customer):
    _, _, mine = student
    theirs = login(api, customer.email, customer.password)
    r = api.post(LOGOUT, json={"refresh_token": theirs["refresh_token"]},
                 headers=auth(mine["access_token"]))
    assert expect(r, 400) == LOGOUT_FAILED
    r = api.post(REFRESH, json={"refresh_token": theirs["refresh_token"]})
    assert expect(r, 200)["success"] is True


def test_logout_needs_authentication(api, student):
    _, user, tokens = student
    r = api.post(LOGOUT, json={"refresh_token": tokens["refresh_token"]})
    assert expect(r, 401) == NOT_PROVIDED
    r = api.post(LOGOUT, json={"refresh_token": tokens["refresh_token"]},
                 headers=auth("garbage.token.here"))
    assert expect(r, 401) == access_refused()
    r = api.post(LOGOUT, json={"refresh_token": tokens["refresh_token"]},
                 headers=auth(tokens["refresh_token"]))
    assert expect(r, 401) == access_refused("Token has wrong type")
    # nothing was blacklisted by the refused requests
    r = api.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert expect(r, 200)["success"] is True


# ---------------------------------------------------------------------------
# 3. Profile
# ---------------------------------------------------------------------------

def test_profile_student(api, student):
    _, user, tokens = student
    body = expect(api.get(PROFILE, headers=auth(tokens["access_token"])), 200)
    assert body == {"success": True, "user": user}
    assert list(body) == ["success", "user"] and list(body["user"]) == USER_KEYS


def test_profile_customer(api, customer):
    body = expect(api.get(PROFILE, headers=auth(customer.access)), 200)
    assert body == {"success": True, "user": customer_object(customer)}


def test_profile_missing_token(api):
    assert expect(api.get(PROFILE), 401) == NOT_PROVIDED


def test_profile_invalid_tokens(api, student):
    _, user, tokens = student
    cases = [
        ("garbage", access_refused()),
        (forge_token(claims_for(user["id"]), key="another-key"), access_refused()),
        (forge_token(claims_for(user["id"], lifetime=-5)), access_refused()),
        (forge_token(claims_for(user["id"]), alg="none"), access_refused()),
        (tokens["refresh_token"], access_refused("Token has wrong type")),
    ]
    for token, want in cases:
        assert expect(api.get(PROFILE, headers=auth(token)), 401) == want, token


def test_profile_token_of_a_django_service(api, student):
    # a token issued by another service holding the same key (uuid jti) is accepted
    _, user, _ = student
    token = forge_token(claims_for(user["id"]))
    assert expect(api.get(PROFILE, headers=auth(token)), 200)["user"] == user


def test_profile_wrong_methods(api, student):
    _, _, tokens = student
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        r = api.request(method, PROFILE, headers=auth(tokens["access_token"]), json={})
        assert r.status_code == 405, (method, r.text)


# ---------------------------------------------------------------------------
# 4. Refresh
# ---------------------------------------------------------------------------

def test_refresh_keeps_the_refresh_token(api, student):
    # The document answers an access token only: its clients keep their refresh
    # token, so it must keep working (no rotation on this surface).
    _, user, tokens = student
    body = expect(api.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}), 200)
    assert list(body) == ["success", "access_token"], body
    assert body["success"] is True
    claims = decode_token(body["access_token"])[1]
    assert claims["token_type"] == "access" and claims["user_id"] == user["id"]
    assert expect(api.get(PROFILE, headers=auth(body["access_token"])), 200)["user"] == user
    for _ in range(3):
        again = expect(api.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}), 200)
        assert again["success"] is True and again["access_token"]
    # and logout still ends it
    r = api.post(LOGOUT, json={"refresh_token": tokens["refresh_token"]},
                 headers=auth(body["access_token"]))
    expect(r, 200)
    r = api.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert expect(r, 401) == REFRESH_INVALID


def test_refresh_ignores_authorization_header(api, student):
    _, _, tokens = student
    r = api.post(REFRESH, json={"refresh_token": tokens["refresh_token"]},
                 headers=auth("garbage"))
    assert expect(r, 200)["success"] is True


def test_refresh_token_of_another_surface(api, customer):
    tokens = api.login(customer.email, customer.password)
    body = expect(api.post(REFRESH, json={"refresh_token": tokens.refresh}), 200)
    assert decode_token(body["access_token"])[1]["user_id"] == customer.id


@pytest.mark.parametrize("body", [
    {}, {"refresh_token": ""}, {"refresh_token": "   "}, {"refresh_token": None},
    {"refresh": "x"},
], ids=["missing", "blank", "spaces", "null", "other-name"])
def test_refresh_required(api, body):
    assert expect(api.post(REFRESH, json=body), 400) == REFRESH_REQUIRED


def test_refresh_required_empty_body(api):
    assert expect(api.post(REFRESH), 400) == REFRESH_REQUIRED


def test_refresh_invalid(api, student):
    _, user, tokens = student
    for bad in ("not-a-jwt", "a.b.c", tokens["access_token"],
                forge_token(claims_for(user["id"], "refresh"), key="another-key"),
                forge_token(claims_for(user["id"], "refresh", lifetime=-10)),
                forge_token(claims_for(user["id"], "refresh"), alg="none"),
                forge_token(claims_for(987654321, "refresh"))):
        r = api.post(REFRESH, json={"refresh_token": bad})
        assert expect(r, 401) == REFRESH_INVALID, bad


def test_refresh_token_with_a_nul(api, student):
    _, _, tokens = student
    r = api.post(REFRESH, json={"refresh_token": tokens["refresh_token"] + "\u0000x"})
    assert expect(r, 400) == REFRESH_REQUIRED
    r = api.post(LOGOUT, json={"refresh_token": tokens["refresh_token"] + "\u0000x"},
                 headers=auth(tokens["access_token"]))
    assert expect(r, 400) == LOGOUT_FAILED


def test_refresh_non_string(api):
    for value in (["x"], {"a": 1}, 5, True):
        r = api.post(REFRESH, json={"refresh_token": value})
        assert expect(r, 400) == REFRESH_REQUIRED, value


# ---------------------------------------------------------------------------
# Provisioning: shopd user create --json
# ---------------------------------------------------------------------------

def test_provision_student_and_staff_see_their_objects(server, api):
    s, t = student_spec(), staff_spec()
    sid, tid = provision(server, s), provision(server, t)
    assert sid != tid
    for spec, uid in ((s, sid), (t, tid)):
        body = login(api, spec["username"], spec["password"])
        assert_login_body(body, expected_user(uid, spec))
        prof = expect(api.get(PROFILE, headers=auth(body["access_token"])), 200)
        assert prof == {"success": True, "user": expected_user(uid, spec)}


def test_provision_round_trip_of_the_documented_object(server, api, student):
    # the user object of the document, plus a password, creates a user like it
    spec, user, _ = student
    h = unique_hex(8)
    obj = copy.deepcopy(user)
    obj.update(username=f"twin_{h}", email=f"twin.{h}@university.edu", password=spec["password"],
               university_id=f"STU{h}", phone_number=None)
    obj["student_profile"]["student_id"] = f"CS{h}"
    uid = provision(server, obj)
    body = login(api, obj["username"], obj["password"])
    want = copy.deepcopy(obj)
    del want["password"]
    want["id"] = uid
    assert body["user"] == want


def test_provision_minimal_student(server, api):
    h = unique_hex(8)
    spec = {"username": f"min_{h}", "email": f"min.{h}@university.edu",
            "password": strong_password(), "user_type": "student", "university_id": f"U{h}"}
    uid = provision(server, spec)
    body = login(api, spec["username"], spec["password"])
    assert body["user"] == expected_user(uid, spec)
    assert body["user"]["student_profile"] is None
    assert body["user"]["first_name"] == "" and body["user"]["is_student"] is True


def test_provision_student_profile_defaults(server, api):
    spec = student_spec(student_profile={"student_id": "S-" + unique_hex(8)})
    uid = provision(server, spec)
    body = login(api, spec["username"], spec["password"])
    assert body["user"]["student_profile"] == {"student_id": spec["student_profile"]["student_id"],
                                               "gpa": None, "credits_completed": 0,
                                               "graduation_date": None}
    assert body["user"]["id"] == uid


def test_provision_staff_profile_empty_optionals(server, api):
    spec = staff_spec(staff_profile={"employee_id": "E-" + unique_hex(8), "office_hours": ""})
    provision(server, spec)
    body = login(api, spec["username"], spec["password"])
    assert body["user"]["staff_profile"] == {"employee_id": spec["staff_profile"]["employee_id"],
                                             "hire_date": None, "office_location": None,
                                             "office_hours": None}


@pytest.mark.parametrize("given,stored", [
    ("3.75", "3.75"), (3.75, "3.75"), (3.7, "3.70"), ("4", "4.00"), (4, "4.00"),
    ("0", "0.00"), ("0.5", "0.50"), (" 2.10 ", "2.10"), ("4.00", "4.00"),
])
def test_provision_gpa_forms(server, api, given, stored):
    spec = student_spec()
    spec["student_profile"]["gpa"] = given
    provision(server, spec)
    body = login(api, spec["username"], spec["password"])
    assert body["user"]["student_profile"]["gpa"] == stored


@pytest.mark.parametrize("given,message", [
    ("4.01", "Ensure this value is less than or equal to 4.00."),
    (5, "Ensure this value is less than or equal to 4.00."),
    ("-0.5", "Ensure this value is greater than or equal to 0.00."),
    ("3.755", "Ensure that there are no more than 2 decimal places."),
    ("abc", "A valid number is required."),
    ("", "A valid number is required."),
    ("1e0", "A valid number is required."),
    ([3], "A valid number is required."),
])
def test_provision_gpa_refused(server, api, given, message):
    spec = student_spec()
    spec["student_profile"]["gpa"] = given
    assert refused(server, spec) == {"student_profile.gpa": [message]}
    assert_no_user(api, spec)


@pytest.mark.parametrize("user_type", ["admin", "customer"])
def test_provision_other_types(server, api, user_type):
    h = unique_hex(8)
    spec = {"username": f"{user_type}_{h}", "email": f"{user_type}.{h}@example.com",
            "password": strong_password(), "user_type": user_type}
    uid = provision(server, spec)
    body = login(api, spec["username"], spec["password"])
    assert body["user"] == expected_user(uid, spec)
    assert body["user"]["is_student"] is False and body["user"]["is_staff_member"] is False


def test_provision_is_verified(server, api):
    # provisioned users are known to the university: the shop surface (which refuses
    # unverified users) lets them in
    spec = student_spec()
    provision(server, spec)
    r = api.post("/api/users/login/", json={"login": spec["email"], "password": spec["password"]})
    assert set(expect(r, 200)) >= {"access", "refresh"}


def assert_no_user(api, spec):
    r = api.post(LOGIN, json={"username": spec["username"], "password": spec["password"]})
    assert expect(r, 401) == INVALID_CREDENTIALS


def test_provision_refused_fields(server, api):
    spec = {
        "username": "john doe", "email": "not-an-email", "password": "123",
        "user_type": "student", "university_id": "", "phone_number": "12345",
        "date_of_birth": "2000-02-30", "academic_level": "postdoc", "enrollment_year": "abc",
        "is_student": False, "bogus": 1,
        "student_profile": {"gpa": 4.5, "credits_completed": -1, "graduation_date": "2028/05/15",
                            "extra": True},
    }
    errors = refused(server, spec)
    assert errors == {
        "bogus": ["Unknown field."],
        "username": ["Enter a valid username. This value may contain only letters, numbers, "
                     "and @/./+/-/_ characters."],
        "university_id": ["This field may not be blank."],
        "phone_number": ["Enter a valid phone number in E.164 form (+1234567890)."],
        "date_of_birth": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
        "academic_level": ['"postdoc" is not a valid choice.'],
        "enrollment_year": ["A valid integer is required."],
        "is_student": ['Must be true for user_type "student".'],
        "student_profile.extra": ["Unknown field."],
        "student_profile.student_id": ["This field is required."],
        "student_profile.gpa": ["Ensure this value is less than or equal to 4.00."],
        "student_profile.credits_completed": ["Ensure this value is greater than or equal to 0."],
        "student_profile.graduation_date": [
            "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
        "email": ["Enter a valid email address."],
        "password": ["This password is too short. It must contain at least 8 characters.",
                     "This password is too common.", "This password is entirely numeric."],
    }


def test_provision_required_fields(server):
    assert refused(server, {}) == {f: REQUIRED for f in ("username", "email", "password",
                                                         "user_type")}
    assert refused(server, {"username": None, "email": None, "password": None,
                            "user_type": None}) == {
        f: NULL for f in ("username", "email", "password", "user_type")}
    # students and staff need their university ID
    for make in (student_spec, staff_spec):
        spec = make()
        del spec["university_id"]
        assert refused(server, spec) == {"university_id": REQUIRED}


@pytest.mark.parametrize("user_type", ["Student", "teacher", ""])
def test_provision_user_type_choices(server, user_type):
    spec = student_spec(user_type=user_type)
    del spec["is_student"], spec["is_staff_member"]
    errors = refused(server, spec)
    assert list(errors) == ["user_type"], errors


def test_provision_profiles_must_match_the_type(server, api):
    spec = staff_spec(student_profile={"student_id": "X1"})
    assert refused(server, spec) == {
        "student_profile": ['Only a user of type "student" has a student profile.']}
    spec = student_spec(staff_profile={"employee_id": "E1"})
    assert refused(server, spec) == {
        "staff_profile": ['Only a user of type "staff" has a staff profile.']}
    spec = student_spec(is_staff_member=True)
    assert refused(server, spec) == {"is_staff_member": ['Must be false for user_type "student".']}
    spec = student_spec(student_profile="CS1")
    assert refused(server, spec) == {"student_profile": ["Expected an object."]}
    assert_no_user(api, spec)


def test_provision_ranges_and_types(server):
    spec = student_spec(enrollment_year=1800, first_name=["x"])
    spec["student_profile"]["credits_completed"] = "many"
    assert refused(server, spec) == {
        "first_name": NOT_A_STRING,
        "enrollment_year": ["Ensure this value is greater than or equal to 1900."],
        "student_profile.credits_completed": ["A valid integer is required."]}
    spec = student_spec(enrollment_year="2024", date_of_birth="2999-01-01")
    assert refused(server, spec) == {"date_of_birth": ["Date of birth cannot be in the future."]}
    spec = student_spec(username="u" * 151)
    assert refused(server, spec) == {
        "username": ["Ensure this field has no more than 150 characters."]}


def test_provision_null_characters(server, api):
    spec = student_spec(first_name="Jo\u0000hn")
    assert refused(server, spec) == {"first_name": ["Null characters are not allowed."]}
    # a password is never cut short at a NUL
    password = spec["password"]
    spec = student_spec(password=password + "\u0000tail")
    assert refused(server, spec) == {"password": ["Null characters are not allowed."]}
    assert_no_user(api, dict(spec, password=password))


def test_provision_enrollment_year_as_string(server, api):
    spec = student_spec(enrollment_year="2023")
    provision(server, spec)
    assert login(api, spec["username"], spec["password"])["user"]["enrollment_year"] == 2023


def test_provision_conflicts(server, api, student):
    taken, _, _ = student
    spec = student_spec(email=taken["email"].upper(), username=taken["username"].upper(),
                        phone_number=taken["phone_number"])
    assert refused(server, spec) == {
        "email": ["A user with this email already exists."],
        "username": ["A user with that username already exists."],
        "phone_number": ["A user with this phone number already exists."]}


def test_provision_university_id_taken_leaves_nothing(server, api, student):
    taken, _, _ = student
    spec = staff_spec(university_id=taken["university_id"])
    assert refused(server, spec) == {
        "university_id": ["A user with this university ID already exists."]}
    # one transaction: the user row was not kept either
    assert_no_user(api, spec)
    r = api.post(LOGIN, json={"username": spec["email"], "password": spec["password"]})
    assert expect(r, 401) == INVALID_CREDENTIALS
    # and the same email can be provisioned once the ID is fixed
    spec["university_id"] = "EMP-" + unique_hex(8)
    provision(server, spec)
    login(api, spec["username"], spec["password"])


def test_provision_email_of_a_customer(server, api, customer):
    spec = student_spec(email=customer.email)
    assert refused(server, spec) == {"email": ["A user with this email already exists."]}


@pytest.mark.parametrize("text,message", [
    ("[1]", "Expected a JSON object."),
    ('"x"', "Expected a JSON object."),
    ('{"a":', None),
    ('{"a": 1} x', None),
    ("", None),
])
def test_provision_bad_json(server, text, message):
    errors = refused(server, text)
    assert list(errors) == ["non_field_errors"], errors
    if message:
        assert errors["non_field_errors"] == [message]
    else:
        assert errors["non_field_errors"][0].startswith("JSON parse error - ")


def test_provision_usage(server):
    for args in (("user",), ("user", "create"), ("user", "create", "--json"),
                 ("user", "delete", "--json", "{}")):
        r = server.cli(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "usage: shopd user create --json" in r.stderr


# ---------------------------------------------------------------------------
# Rate limit ("Login attempts may be rate-limited")
# ---------------------------------------------------------------------------

def test_login_rate_limited(make_server):
    s = make_server(SHOPD_RATE_LIMITS="")
    body = {"username": "nobody_" + unique_hex(), "password": strong_password()}
    for _ in range(5):
        assert expect(s.api.post(LOGIN, json=body), 401) == INVALID_CREDENTIALS
    r = s.api.post(LOGIN, json=body)
    got = expect(r, 429)
    assert set(got) == {"success", "message"} and got["success"] is False
    assert re.fullmatch(r"Request was throttled\. Expected available in \d+ seconds\.",
                        got["message"]), got
    # sliding-window estimate: the wait may reach into the next minute
    assert 1 <= int(r.headers["Retry-After"]) <= 120
    # other campus routes are not limited
    assert expect(s.api.post(REFRESH, json={}), 400) == REFRESH_REQUIRED
