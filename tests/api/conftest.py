"""Fixtures of the black-box API tests; the harness itself is shopdtest.py.

  server        the session's shopd (fresh database, test secret key)
  make_server   make_server(SHOPD_X="...") -> an extra server for this test
  api           Api(server): url(), get/post/..., register(), login(), auth(), new_user()
  user, admin   a fresh customer / a fresh admin (createsuperuser) on the session server
  create_admin  create_admin(server, email, password): runs `shopd createsuperuser`
  forge_token, decode_token, secret_key

Email. Every server the harness starts sends its mail over real SMTP to one SMTP sink
(aiosmtpd on 127.0.0.1, a free port, started once per session); make_server(
SHOPD_MAIL_URL=MAIL_TO_FILES) writes .eml files into that server's mail dir instead (read
them with server.mail_files()), any other SHOPD_MAIL_URL is used as given.

  mailbox         what the session sink received (the whole session: filter by a unique
                  address). Mailbox methods:
                    wait_for(to, subject_contains=None, timeout=10, since=None)
                        -> email.message.EmailMessage: the oldest matching email this
                        mailbox has not returned yet (so a second call gets the second
                        email); waits, then fails listing what did arrive. since: a
                        mailbox.mark() or a time.time() value.
                    all_to(to) -> [EmailMessage] received so far; mark(); messages()
  smtp_sink       the session's SmtpSink (url, port, received(), mailbox())
  make_smtp_sink  make_smtp_sink(port=None, auth=None) -> a started extra SmtpSink (its own
                  messages; .mailbox() to read them), stopped when the test ends; port=
                  listens on a port a server was pointed at while nothing listened there;
                  auth=(user, password) requires SMTP AUTH with exactly those
  server.jobs(kind=None)  the outbox rows (attempts, run_at, done_at, last_error, ...)
  server.sql(statement)   one SQL statement on the server's database

Message helpers (import from shopdtest): mail_text(msg), mail_html(msg) (CRLF -> \\n),
mail_attachments(msg) -> [(filename, content_type, bytes)], link_params(msg, path,
frontend=None) -> (uid, token) of <frontend>/<path>?uid=..&token=.. in the text part
(path "verify-email" or "reset-password"; server.frontend_url is the expected base).
"""

import pytest

from shopdtest import (LOG_TAIL_LINES, TEST_SECRET_KEY, Api, Server, ServerError, SmtpSink,
                       User, _live_lock, _live_servers, decode_token, forge_token,
                       session_sink, shopd_bin, smtp_unavailable_reason, strong_password, tail,
                       unique_email, unique_hex)


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


@pytest.fixture(scope="session")
def smtp_sink():
    """The session's SMTP sink (every harness server sends its mail there by default)."""
    reason = smtp_unavailable_reason()
    if reason:
        pytest.skip(reason)
    return session_sink()


@pytest.fixture
def mailbox(smtp_sink):
    """A Mailbox on the session sink (see the module docstring)."""
    return smtp_sink.mailbox()


@pytest.fixture
def make_smtp_sink():
    """make_smtp_sink(port=None, auth=None) starts an extra SmtpSink, stopped when the test
    ends."""
    reason = smtp_unavailable_reason()
    if reason:
        pytest.skip(reason)
    started = []

    def factory(port=None, auth=None):
        sink = SmtpSink(port=port, auth=auth).start()
        started.append(sink)
        return sink

    yield factory
    for sink in started:
        sink.stop()


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
