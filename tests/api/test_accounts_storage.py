"""Accounts as the database holds them: what the API does when a user row is changed
behind its back (deactivated, deleted, a password hash imported from Django).

These tests reach into the server's database with one SQL statement at a time: Python's
sqlite3 for SQLite, the psql client for PostgreSQL (SHOPD_TEST_DB=pg). Statements use
only what both understand (TRUE / FALSE literals, no placeholders).
"""

import base64
import hashlib
import time

import pytest

from shopdtest import DB_MODE, expect, strong_password, unique_hex

LOGIN = "/api/v1/auth/login/"
REFRESH = "/api/v1/auth/refresh/"
PROFILE = "/api/v1/auth/profile/"

INVALID_CREDENTIALS = {"non_field_errors": ["Invalid credentials"]}
ACCOUNT_DISABLED = {"non_field_errors": ["User account is disabled."]}
USER_INACTIVE = {"detail": "User is inactive", "code": "user_inactive"}
USER_NOT_FOUND = {"detail": "User not found", "code": "user_not_found"}
REFRESH_INVALID = {"detail": "Token is invalid or expired", "code": "token_not_valid"}


# shopd keeps the user behind each token in a per-thread cache for at most 1 s; its own
# writes retire the cache at once, writes from outside the process (like these) apply
# within that second.
OUTSIDE_WRITE_DELAY = 1.1


def run_sql(server, sql):
    """One SQL statement on the server's own database (the harness's helper), as another
    process would write it: a write waits until shopd must have seen it."""
    rows = server.sql(sql)
    if not sql.lstrip().upper().startswith("SELECT"):
        time.sleep(OUTSIDE_WRITE_DELAY)
    return rows

def sql_text(s):
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def stored_password(server, user_id):
    [(password,)] = run_sql(server, f"SELECT password FROM users WHERE id = {int(user_id)}")
    return password


def set_password_hash(server, user_id, encoded):
    run_sql(server, f"UPDATE users SET password = {sql_text(encoded)} WHERE id = {int(user_id)}")
    assert stored_password(server, user_id) == encoded


def django_pbkdf2_sha256(password, salt, iterations=1000):
    """The hash Django's PBKDF2PasswordHasher stores."""
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(dk).decode('ascii')}"


def login(api, email, password):
    return api.post(LOGIN, json={"email": email, "password": password})


def refresh(api, token):
    return api.post(REFRESH, json={"refresh": token})


def test_run_sql_sees_the_servers_users(server, api):
    # positive control for the helper: the row the API created, in the API's database
    u = api.new_user()
    rows = run_sql(server, f"SELECT id, email, is_active FROM users WHERE id = {int(u.id)}")
    assert len(rows) == 1, rows
    assert rows[0][:2] == (str(u.id), u.email)
    assert rows[0][2] in ("1", "t"), rows


# ---------------------------------------------------------------------------
# Deactivated users
# ---------------------------------------------------------------------------

def test_deactivated_user_is_refused_everywhere(server, api):
    u = api.new_user()
    expect(api.profile(u.access), 200)

    run_sql(server, f"UPDATE users SET is_active = FALSE WHERE id = {int(u.id)}")

    # the access token has not expired, but its user may no longer act
    assert expect(api.profile(u.access), 401) == USER_INACTIVE
    # right password: the account is disabled; a wrong one says nothing about the account
    assert expect(login(api, u.email, u.password), 400) == ACCOUNT_DISABLED
    assert expect(login(api, u.email, u.password + "x"), 400) == INVALID_CREDENTIALS
    assert expect(refresh(api, u.refresh), 401) == REFRESH_INVALID

    # reactivated, the same tokens work again: the refusals above were about is_active
    run_sql(server, f"UPDATE users SET is_active = TRUE WHERE id = {int(u.id)}")
    assert expect(api.profile(u.access), 200)["id"] == u.id
    assert expect(refresh(api, u.refresh), 200)["access"]
    assert api.login(u.email, u.password).user["id"] == u.id


# ---------------------------------------------------------------------------
# Passwords imported from Django
# ---------------------------------------------------------------------------

def test_django_password_logs_in_and_is_upgraded(server, api):
    u = api.new_user()
    password = strong_password()
    django_hash = django_pbkdf2_sha256(password, unique_hex(12))
    set_password_hash(server, u.id, django_hash)

    # the registration password is gone with the overwritten hash
    assert expect(login(api, u.email, u.password), 400) == INVALID_CREDENTIALS
    assert stored_password(server, u.id) == django_hash

    t = api.login(u.email, password)
    assert t.user == {"id": u.id, "email": u.email, "user_type": "customer"}
    assert expect(api.profile(t.access), 200)["id"] == u.id

    # rehashed to Argon2id at that login
    upgraded = stored_password(server, u.id)
    assert upgraded.startswith("$argon2id$"), upgraded

    # and the Argon2id hash verifies the same password
    assert api.login(u.email, password).user["id"] == u.id
    assert stored_password(server, u.id) == upgraded
    assert expect(login(api, u.email, password + "x"), 400) == INVALID_CREDENTIALS
    assert expect(login(api, u.email, password.swapcase()), 400) == INVALID_CREDENTIALS
    assert stored_password(server, u.id) == upgraded


def test_django_password_wrong_password_is_not_upgraded(server, api):
    u = api.new_user()
    password = strong_password()
    django_hash = django_pbkdf2_sha256(password, unique_hex(12))
    set_password_hash(server, u.id, django_hash)
    assert expect(login(api, u.email, password + "x"), 400) == INVALID_CREDENTIALS
    assert stored_password(server, u.id) == django_hash


@pytest.mark.parametrize("unusable", ["!xyz", "!", "!" + unique_hex(32) + unique_hex(8)])
def test_django_unusable_password_never_logs_in(server, api, unusable):
    u = api.new_user()
    set_password_hash(server, u.id, unusable)
    for attempt in (unusable, unusable[1:] or "anything-at-all", u.password):
        assert expect(login(api, u.email, attempt), 400) == INVALID_CREDENTIALS, attempt
    assert stored_password(server, u.id) == unusable


# ---------------------------------------------------------------------------
# Deleted users
# ---------------------------------------------------------------------------

def test_deleted_users_token(server, api):
    u = api.new_user()
    other = api.new_user()
    [(n,)] = run_sql(server, f"SELECT COUNT(*) FROM refresh_tokens WHERE user_id = {int(u.id)}")
    assert n == "1"

    run_sql(server, f"DELETE FROM users WHERE id = {int(u.id)}")
    [(n,)] = run_sql(server, f"SELECT COUNT(*) FROM refresh_tokens WHERE user_id = {int(u.id)}")
    assert n == "0"  # ON DELETE CASCADE

    assert expect(api.profile(u.access), 401) == USER_NOT_FOUND
    assert expect(refresh(api, u.refresh), 401) == REFRESH_INVALID
    assert expect(login(api, u.email, u.password), 400) == INVALID_CREDENTIALS
    # other users are unaffected
    assert expect(api.profile(other.access), 200)["id"] == other.id


def test_deleted_users_token_does_not_open_the_next_account(server, api):
    # The newest user is deleted; whoever registers next must not be reachable with the
    # deleted user's tokens (user_id is all a token names).
    u = api.new_user()
    run_sql(server, f"DELETE FROM users WHERE id = {int(u.id)}")
    v = api.new_user()
    r = api.profile(u.access)
    assert r.status_code == 401, (
        f"the deleted user {u.id}'s access token opened user {v.id}'s account: {r.text}")
    r = refresh(api, u.refresh)
    assert r.status_code == 401, (
        f"the deleted user {u.id}'s refresh token gave a session of user {v.id}: {r.text}")
