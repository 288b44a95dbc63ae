"""Fixtures of the black-box API tests; the harness itself is shopdtest.py.

  server        the session's shopd (fresh database, test secret key)
  make_server   make_server(SHOPD_X="...") -> an extra server for this test
  api           Api(server): url(), get/post/..., register(), login(), auth(), new_user()
  user, admin   a fresh customer / a fresh admin (createsuperuser) on the session server
  create_admin  create_admin(server, email, password): runs `shopd createsuperuser`
  forge_token, decode_token, secret_key
"""

import pytest

from shopdtest import (LOG_TAIL_LINES, TEST_SECRET_KEY, Api, Server, ServerError, User,
                       _live_lock, _live_servers, decode_token, forge_token, shopd_bin,
                       strong_password, tail, unique_email, unique_hex)


def pytest_sessionstart(session):
    if session.config.option.collectonly:
        return
    if not shopd_bin().is_file():
        pytest.exit(f"shopd binary not found at {shopd_bin()} (build it, or set SHOPD_BIN)",
                    returncode=3)


# ---------------------------------------------------------------------------

def _start_or_exit(server, always_exit=False):
    """A missing binary, or a default server that cannot start, ends the run at once
    with one clear message instead of one error per test."""
    try:
        return server.start()
    except ServerError as e:
        server.stop()
        if always_exit or not server.bin.is_file():
            pytest.exit(str(e), returncode=3)
        raise


@pytest.fixture(scope="session")
def server():
    s = Server(name="shopd-session")
    _start_or_exit(s, always_exit=True)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def make_server():
    """make_server(SHOPD_X="...", ...) starts an extra server with these environment
    overrides; it is stopped (and its exit code checked) when the test ends. A
    SHOPD_DATABASE_URL override makes the server use that database (not dropped)."""
    started = []

    def factory(**env):
        s = Server(env=env, name="shopd-extra")
        started.append(s)
        _start_or_exit(s)
        return s

    yield factory
    errors = []
    for s in started:
        try:
            s.stop()
        except ServerError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def api(server):
    return Api(server)


@pytest.fixture
def create_admin():
    """create_admin(server, email, password, username=None) runs `shopd createsuperuser`
    with the server's environment, asserts exit 0 and returns the CompletedProcess."""

    def run(server, email, password, username=None):
        username = username or "admin_" + unique_hex(8)
        r = server.cli("createsuperuser", "--username", username, "--email", email,
                       "--password", password)
        assert r.returncode == 0, (
            f"createsuperuser exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    return run


@pytest.fixture
def admin(server, api, create_admin):
    """A fresh admin on the session server, logged in: User(...)."""
    email, password = unique_email("admin"), strong_password()
    create_admin(server, email, password)
    t = api.login(email, password)
    return User(t.user["id"], email, password, t.access, t.refresh)


@pytest.fixture
def user(api):
    """A fresh customer on the session server: User(id, email, password, access, refresh)."""
    return api.new_user()


@pytest.fixture
def secret_key():
    return TEST_SECRET_KEY


@pytest.fixture(name="forge_token")
def forge_token_fixture():
    return forge_token


@pytest.fixture(name="decode_token")
def decode_token_fixture():
    return decode_token


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        with _live_lock:
            servers = list(_live_servers)
        for s in servers:
            rep.sections.append((
                f"shopd log {s.log_path} (last {LOG_TAIL_LINES} lines; SHOPD_TEST_KEEP=1 keeps it)",
                tail(s.log_path)))
