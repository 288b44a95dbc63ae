"""Cross-cutting HTTP behaviour: health, security headers, errors in JSON, body parsing
and limits, CORS, graceful shutdown."""

import json
import threading
import time

import pytest

from shopdtest import expect, strong_password, unique_email

LOGIN = "/api/v1/auth/login/"
REGISTER = "/api/v1/auth/register/"
PROFILE = "/api/v1/auth/profile/"
MAX_BODY = 1048576
REQUIRED = ["This field is required."]
INVALID_CREDENTIALS = {"non_field_errors": ["Invalid credentials"]}


def header_items(value):
    return [v.strip().lower() for v in (value or "").split(",") if v.strip()]


def test_healthz(api):
    r = api.get("/healthz")
    assert expect(r, 200) == {"status": "ok"}
    assert r.headers["Content-Type"].startswith("application/json")


# Each request produces a different kind of response (ok, created, 400, 401, 404, 405,
# 413, 415); every one must carry the security headers.
SECURITY_HEADER_REQUESTS = {
    "healthz": ("GET", "/healthz", {}),
    "register-201": ("POST", REGISTER, "register"),
    "login-400": ("POST", LOGIN, {"json": {"email": "nobody@example.com", "password": "x"}}),
    "profile-401": ("GET", PROFILE, {}),
    "not-found-404": ("GET", "/api/v1/does-not-exist/", {}),
    "method-405": ("DELETE", LOGIN, {}),
    "too-large-413": ("POST", LOGIN, {"data": b"{" + b" " * MAX_BODY + b"}",
                                      "headers": {"Content-Type": "application/json"}}),
    "media-type-415": ("POST", LOGIN, {"data": b"hello", "headers": {"Content-Type": "text/plain"}}),
    "bad-json-400": ("POST", LOGIN, {"data": b"{", "headers": {"Content-Type": "application/json"}}),
}


@pytest.mark.parametrize("case", SECURITY_HEADER_REQUESTS, ids=str)
def test_security_headers_on_every_response(api, case):
    method, path, kw = SECURITY_HEADER_REQUESTS[case]
    if kw == "register":
        p = strong_password()
        kw = {"json": {"email": unique_email(), "password": p, "password_confirm": p}}
    r = api.request(method, path, **kw)
    assert r.status_code < 500, r.text
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert r.headers.get("X-Frame-Options") == "DENY"
    assert r.headers.get("Referrer-Policy") == "same-origin"


@pytest.mark.parametrize("method,path", [
    ("GET", "/nope"),
    ("GET", "/api/v1/does-not-exist/"),
    ("POST", "/api/v1/auth/does-not-exist/"),
    ("GET", "/api/v1/auth/login/extra/"),
])
def test_unknown_path_is_404_json(api, method, path):
    assert expect(api.request(method, path), 404) == {"detail": "Not found."}


@pytest.mark.parametrize("method", ["DELETE", "GET", "PUT", "PATCH"])
@pytest.mark.parametrize("path", [LOGIN, LOGIN.rstrip("/")])
def test_wrong_method_is_405_with_allow(api, method, path):
    r = api.request(method, path)
    assert expect(r, 405) == {"detail": f'Method "{method}" not allowed.'}
    assert set(header_items(r.headers.get("Allow"))) == {"post", "options"}, r.headers.get("Allow")


def test_trailing_slash_is_optional(api):
    p = strong_password()
    email = unique_email()
    body = expect(api.post(REGISTER.rstrip("/"),
                           json={"email": email, "password": p, "password_confirm": p}), 201)
    assert body["data"]["user"]["email"] == email
    for path in (LOGIN, LOGIN.rstrip("/")):
        ok = expect(api.post(path, json={"email": email, "password": p}), 200)
        assert ok["message"] == "Login successful"
        bad = api.post(path, json={"email": email, "password": p + "x"})
        assert expect(bad, 400) == INVALID_CREDENTIALS
    token = ok["data"]["access_token"]
    for path in (PROFILE, PROFILE.rstrip("/")):
        assert expect(api.get(path, headers=api.auth(token)), 200)["email"] == email


@pytest.mark.parametrize("raw", [b"{", b'{"email": "a@example.com",}', b"{'email': 1}",
                                 b"nonsense", b'{"email": "x"} trailing', b"\xff\xfe{}"])
@pytest.mark.parametrize("path", [LOGIN, REGISTER])
def test_malformed_json_is_400(api, path, raw):
    r = api.post(path, data=raw, headers={"Content-Type": "application/json"})
    body = expect(r, 400)
    assert list(body) == ["detail"], body
    assert isinstance(body["detail"], str)
    assert body["detail"].startswith("JSON parse error - "), body


@pytest.mark.parametrize("path", [LOGIN, REGISTER])
def test_json_list_body_is_400(api, path):
    r = api.post(path, json=[{"email": "a@example.com"}])
    assert expect(r, 400) == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}


@pytest.mark.parametrize("value", ["a string", 42, 1.5, True])
def test_json_scalar_body_is_400(api, value):
    r = api.post(REGISTER, data=json.dumps(value), headers={"Content-Type": "application/json"})
    body = expect(r, 400)
    assert list(body) == ["non_field_errors"], body
    [msg] = body["non_field_errors"]
    assert msg.startswith("Invalid data. Expected a dictionary, but got "), msg


def test_body_over_1mib_is_413_and_server_keeps_working(api):
    # valid JSON, one byte over the limit
    filler = b" " * (MAX_BODY - 1)
    data = b"{" + filler + b"}"
    assert len(data) == MAX_BODY + 1
    r = api.post(LOGIN, data=data, headers={"Content-Type": "application/json"})
    assert expect(r, 413) == {"detail": "Request body is too large."}
    assert expect(api.get("/healthz"), 200) == {"status": "ok"}
    bad = api.post(LOGIN, json={"email": unique_email(), "password": "whatever-123"})
    assert expect(bad, 400) == INVALID_CREDENTIALS


def test_body_of_exactly_1mib_is_accepted(api):
    # the limit is inclusive: exactly 1 MiB is parsed (and then fails validation)
    data = b"{" + b" " * (MAX_BODY - 2) + b"}"
    assert len(data) == MAX_BODY
    r = api.post(LOGIN, data=data, headers={"Content-Type": "application/json"})
    assert expect(r, 400) == {"email": REQUIRED, "password": REQUIRED}


def test_chunked_body_over_1mib_is_413(api):
    # no Content-Length: the limit must hold while the body streams in
    def chunks():
        yield b'{"email": "'
        for _ in range(32):
            yield b"a" * 65536
        yield b'"}'

    r = api.post(LOGIN, data=chunks(), headers={"Content-Type": "application/json"})
    assert expect(r, 413) == {"detail": "Request body is too large."}
    assert expect(api.get("/healthz"), 200) == {"status": "ok"}


@pytest.mark.parametrize("path", [LOGIN, REGISTER])
def test_text_plain_is_415(api, path):
    r = api.post(path, data=b'{"email": "a@example.com"}', headers={"Content-Type": "text/plain"})
    assert expect(r, 415) == {"detail": 'Unsupported media type "text/plain" in request.'}


def test_form_urlencoded_register_and_login(api):
    email, p = unique_email(), strong_password()
    r = api.post(REGISTER, data={"email": email, "password": p, "password_confirm": p,
                                 "first_name": "Form", "last_name": "Post"})
    assert r.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    reg = expect(r, 201)
    assert reg["message"] == "User registered successfully"
    assert reg["data"]["user"] == {"id": reg["data"]["user"]["id"], "email": email,
                                   "user_type": "customer"}
    r = api.post(LOGIN, data={"email": email, "password": p})
    login = expect(r, 200)
    assert login["message"] == "Login successful"
    assert login["data"]["user"] == reg["data"]["user"]
    prof = expect(api.get(PROFILE, headers=api.auth(login["data"]["access_token"])), 200)
    assert (prof["first_name"], prof["last_name"]) == ("Form", "Post")


def test_form_urlencoded_errors_are_field_errors(api):
    r = api.post(LOGIN, data={"email": unique_email(), "password": "wrong-password-1"})
    assert expect(r, 400) == INVALID_CREDENTIALS
    r = api.post(REGISTER, data={"email": "not-an-email", "password": "a", "password_confirm": "a"})
    body = expect(r, 400)
    assert body["email"] == ["Enter a valid email address."]


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/json"}], ids=["no-type", "json"])
def test_empty_body_on_register(api, headers):
    r = api.post(REGISTER, data=b"", headers=headers)
    assert expect(r, 400) == {"email": REQUIRED, "password": REQUIRED, "password_confirm": REQUIRED}


# ---------------------------------------------------------------------------
# CORS
# ---------------------------------------------------------------------------

def test_no_cors_headers_by_default(api):
    r = api.get("/healthz", headers={"Origin": "http://app.example"})
    assert expect(r, 200) == {"status": "ok"}
    assert "Access-Control-Allow-Origin" not in r.headers
    r = api.post(LOGIN, json={}, headers={"Origin": "http://app.example"})
    assert r.status_code == 400
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_allowed_origin(make_server):
    s = make_server(SHOPD_CORS_ORIGINS="http://app.example")
    api = s.api
    origin = "http://app.example"

    r = api.get("/healthz", headers={"Origin": origin})
    assert expect(r, 200) == {"status": "ok"}
    assert r.headers.get("Access-Control-Allow-Origin") == origin
    assert "origin" in header_items(r.headers.get("Vary"))

    # error responses too: a browser app must be able to read a 401 / 400
    r = api.get(PROFILE, headers={"Origin": origin})
    assert expect(r, 401) == {"detail": "Authentication credentials were not provided."}
    assert r.headers.get("Access-Control-Allow-Origin") == origin
    r = api.post(LOGIN, json={"email": unique_email(), "password": "x-y-z-123"}, headers={"Origin": origin})
    assert expect(r, 400) == INVALID_CREDENTIALS
    assert r.headers.get("Access-Control-Allow-Origin") == origin

    r = api.get("/healthz", headers={"Origin": "http://evil.example"})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers

    r = api.get("/healthz")
    assert "Access-Control-Allow-Origin" not in r.headers

    r = api.options(PROFILE, headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                                      "Access-Control-Request-Headers": "authorization, content-type"})
    assert r.status_code == 200, r.text
    assert r.headers.get("Access-Control-Allow-Origin") == origin
    assert "get" in header_items(r.headers.get("Access-Control-Allow-Methods"))
    allowed = header_items(r.headers.get("Access-Control-Allow-Headers"))
    assert "authorization" in allowed and "content-type" in allowed, allowed

    r = api.options(PROFILE, headers={"Origin": "http://evil.example",
                                      "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_preflight_without_trailing_slash(make_server):
    s = make_server(SHOPD_CORS_ORIGINS="http://app.example")
    r = s.api.options(PROFILE.rstrip("/"), headers={"Origin": "http://app.example",
                                                    "Access-Control-Request-Method": "PATCH"})
    assert r.status_code == 200, r.text
    assert r.headers.get("Access-Control-Allow-Origin") == "http://app.example"
    assert "patch" in header_items(r.headers.get("Access-Control-Allow-Methods"))


# ---------------------------------------------------------------------------
# Graceful shutdown
# ---------------------------------------------------------------------------

def test_sigterm_lets_an_in_flight_login_finish(make_server):
    # Expensive hashing makes a login take long enough to be in flight for certain.
    s = make_server(SHOPD_ARGON2_MEMORY_KIB="131072", SHOPD_ARGON2_ITERATIONS="3")
    api = s.api
    email, p = unique_email(), strong_password()
    t0 = time.monotonic()
    api.register(email=email, password=p)
    hash_seconds = time.monotonic() - t0

    result = {}

    def login():
        try:
            result["response"] = api.post(LOGIN, json={"email": email, "password": p})
        except Exception as e:  # reported below
            result["error"] = e
        result["done"] = time.monotonic()

    th = threading.Thread(target=login)
    th.start()
    time.sleep(min(0.1, hash_seconds / 4))
    sigterm_at = time.monotonic()
    s.terminate()
    th.join(30)
    assert not th.is_alive(), "the in-flight login never completed"
    assert "error" not in result, f"in-flight login failed: {result.get('error')!r}"
    body = expect(result["response"], 200)
    assert body["message"] == "Login successful"
    assert result["done"] > sigterm_at, (
        f"the login finished before SIGTERM (hashing took {hash_seconds:.3f}s): the test proves nothing")
    s.stop()  # asserts exit code 0
    assert s.exit_code == 0
