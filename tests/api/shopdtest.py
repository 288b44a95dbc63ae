"""Black-box harness for tests/api: starts the real shopd binary and talks HTTP to it.

The fixtures that use it live in conftest.py; test modules import the helpers from here
(`from shopdtest import expect, forge_token, ...`), since pytest advises against importing
conftest.py.

Environment knobs:
  SHOPD_BIN                 binary under test (default: build/shopd in the repo)
  SHOPD_TEST_DB             "sqlite" (default) or "pg"
  SHOPD_TEST_PG_URL         with pg: a superuser URL, e.g. postgres://postgres@127.0.0.1:5432/postgres;
                            every server gets a fresh database created through psql
  SHOPD_TEST_KEEP=1         keep each server's temp dir and print its log when it stops
  SHOPD_ARGON2_MEMORY_KIB   passed through to the server (cheaper hashing under ASan)

Each server runs in its own process group with its own temp dir (database, var, media,
mail, log). It is stopped with SIGTERM and must exit 0 (graceful shutdown is a
requirement); a server never outlives the test run (teardown, atexit and
PR_SET_PDEATHSIG all kill it).

Its email goes over real SMTP to the session's SMTP sink (SmtpSink: aiosmtpd on 127.0.0.1,
a free port), where tests read it through a Mailbox; SHOPD_MAIL_URL=MAIL_TO_FILES makes a
server write .eml files into its own mail dir instead (Server.mail_files()).
"""

import atexit
import base64
import ctypes
import email
import email.policy
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import namedtuple
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET_KEY = "shopd-test-secret-key-3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e"
HTTP_TIMEOUT = 30  # seconds, every HTTP call made by the tests
START_TIMEOUT = 15
STOP_TIMEOUT = 10
LOG_TAIL_LINES = 50

KEEP = os.environ.get("SHOPD_TEST_KEEP") == "1"
DB_MODE = os.environ.get("SHOPD_TEST_DB", "sqlite")


def shopd_bin():
    p = Path(os.environ.get("SHOPD_BIN", "build/shopd"))
    if not p.is_absolute():
        p = REPO_ROOT / p
    return p


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_hex(n=12):
    return uuid.uuid4().hex[:n]


def unique_email(prefix="user"):
    return f"{prefix}-{unique_hex()}@example.com"


def unique_letters(n=12):
    """Random letters only (g-v): for names that must not resemble a numeric password."""
    return "".join(chr(ord("g") + int(c, 16)) for c in unique_hex(n))


# Letters that are neither hex digits nor in the test emails' fixed parts: a random
# password drawn from them can never be "too similar" to a random hex username or email
# (Django's similarity rule), which made registrations fail now and then.
_PASSWORD_LETTERS = "hijknqrvwyz"


def strong_password():
    rnd = uuid.uuid4().int
    tail = "".join(_PASSWORD_LETTERS[(rnd >> (4 * i)) % len(_PASSWORD_LETTERS)] for i in range(16))
    return f"Str0ng-Pass-{tail}"


def http(method, url, **kw):
    """One HTTP request on a fresh connection, ignoring any proxy settings of the caller's
    environment. Every call has a timeout."""
    kw.setdefault("timeout", HTTP_TIMEOUT)
    kw.setdefault("allow_redirects", False)
    with requests.Session() as s:
        s.trust_env = False
        return s.request(method, url, **kw)


def tail(path, n=LOG_TAIL_LINES):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError as e:
        return f"(cannot read {path}: {e})"
    return "\n".join(lines[-n:])


# ---------------------------------------------------------------------------
# PostgreSQL databases (SHOPD_TEST_DB=pg)
# ---------------------------------------------------------------------------

def pg_admin_url():
    url = os.environ.get("SHOPD_TEST_PG_URL")
    if not url:
        raise RuntimeError("SHOPD_TEST_DB=pg needs SHOPD_TEST_PG_URL (see scripts/test.sh api-pg)")
    return url


def psql(sql):
    r = subprocess.run(
        ["psql", pg_admin_url(), "-v", "ON_ERROR_STOP=1", "-X", "-q", "-c", sql],
        capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed ({r.returncode}) on {sql!r}: {r.stderr.strip()}")


def pg_create_database():
    """Creates a fresh database; returns (name, url)."""
    name = f"shopd_test_{uuid.uuid4().hex}"
    psql(f'CREATE DATABASE "{name}"')
    parts = urllib.parse.urlsplit(pg_admin_url())
    return name, urllib.parse.urlunsplit(parts._replace(path="/" + name))


def pg_drop_database(name):
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class FreshDatabase:
    """A fresh empty database of the configured kind (SHOPD_TEST_DB), for tests that run
    the CLI on their own database. kind="sqlite" forces SQLite."""

    def __init__(self, kind=None):
        self.kind = kind or DB_MODE
        self.tmp = tempfile.mkdtemp(prefix="shopd-db-")
        self.pg_name = None
        if self.kind == "pg":
            self.pg_name, self.url = pg_create_database()
        else:
            self.url = f"sqlite://{self.tmp}/shopd.db"

    def drop(self):
        if self.pg_name:
            pg_drop_database(self.pg_name)
            self.pg_name = None
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# Email: an SMTP sink and what tests read from it
# ---------------------------------------------------------------------------

# SHOPD_MAIL_URL=MAIL_TO_FILES: the server writes one .eml per message into its own mail dir.
MAIL_TO_FILES = "file://<the server's mail dir>"
MAIL_WAIT = 10  # seconds: default wait for an email

try:
    from aiosmtpd.controller import Controller as _SmtpController
except ImportError as e:  # python3-aiosmtpd missing: servers fall back to file:// mail
    _SmtpController = None
    _SMTP_IMPORT_ERROR = str(e)
else:
    _SMTP_IMPORT_ERROR = None

# One message as the sink received it: seq counts from 1 per sink; at is time.time().
Received = namedtuple("Received", "seq at mail_from rcpt_tos msg")


def parse_email(raw):
    """bytes -> email.message.EmailMessage (policy=default)."""
    return email.message_from_bytes(raw, policy=email.policy.default)


class _SinkHandler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        self.sink._add(envelope.mail_from, list(envelope.rcpt_tos), parse_email(raw))
        return "250 Message accepted for delivery"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives.

    SmtpSink() picks a free port; SmtpSink(port=P) listens on P (e.g. a port a server was
    told to use while nothing listened there). auth=(user, password) makes it require SMTP
    AUTH (over plain TCP) with exactly those credentials; .logins lists the accepted ones.
    Use start()/stop() or `with SmtpSink(...)`. Thread-safe: messages arrive on aiosmtpd's
    thread while tests read them."""

    def __init__(self, port=None, auth=None):
        if _SmtpController is None:
            raise RuntimeError(f"the SMTP sink needs python3-aiosmtpd ({_SMTP_IMPORT_ERROR})")
        self.fixed_port = port
        self.port = port
        self.auth = auth
        self.logins = []
        self.refused_logins = []
        self.controller = None
        self._received = []
        self._cond = threading.Condition()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        with self._cond:
            if (login, password) == tuple(self.auth):
                self.logins.append(login)
                return AuthResult(success=True)
            self.refused_logins.append((mechanism, login))
        return AuthResult(success=False, handled=False)

    def _smtp_options(self):
        if self.auth is None:
            return {}
        return {"authenticator": self._authenticate, "auth_required": True,
                "auth_require_tls": False}

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def start(self):
        last = None
        for _ in range(1 if self.fixed_port else 5):
            port = self.fixed_port or free_port()
            c = _SmtpController(_SinkHandler(self), hostname="127.0.0.1", port=port,
                                server_hostname="shopd-test-sink", ready_timeout=10,
                                **self._smtp_options())
            try:
                c.start()
            except Exception as e:  # port taken meanwhile: another one (unless fixed)
                last = e
                try:
                    c.stop(no_assert=True)
                except Exception:
                    pass
                continue
            self.controller, self.port = c, port
            return self
        raise RuntimeError(f"cannot start an SMTP sink on 127.0.0.1:{self.fixed_port or '*'}: "
                           f"{last}")

    def stop(self):
        if self.controller is not None:
            c, self.controller = self.controller, None
            c.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _add(self, mail_from, rcpt_tos, msg):
        with self._cond:
            self._received.append(
                Received(len(self._received) + 1, time.time(), mail_from, rcpt_tos, msg))
            self._cond.notify_all()

    def received(self):
        """Every message so far, oldest first (Received records)."""
        with self._cond:
            return list(self._received)

    def wait_change(self, count, timeout):
        """Blocks until more than count messages arrived or timeout passed."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._received) > count, timeout)

    def mailbox(self):
        return Mailbox(self)


def mail_text(msg):
    """The text/plain part, line ends as \\n (MIME sends CRLF)."""
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None, f"email {_subject(msg)!r} has no text/plain part"
    return part.get_content().replace("\r\n", "\n")


def mail_html(msg):
    """The text/html part, line ends as \\n."""
    part = msg.get_body(preferencelist=("html",))
    assert part is not None, f"email {_subject(msg)!r} has no text/html part"
    return part.get_content().replace("\r\n", "\n")


def mail_attachments(msg):
    """[(filename, content_type, bytes)] of the attachments, in order."""
    out = []
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True) or b""
        out.append((part.get_filename(), part.get_content_type(), data))
    return out


def link_params(msg, path, frontend=None):
    """(uid, token) of the link <frontend>/<path>?uid=..&token=.. in the text part. path:
    "verify-email" or "reset-password"; frontend (optional) must then be the link's base."""
    text = mail_text(msg)
    m = re.search(r"(https?://[^\s\"'<>]*?)/" + re.escape(path.strip("/")) +
                  r"/?\?uid=([^&\s\"'<>]+)&token=([^&\s\"'<>]+)", text)
    assert m, f"no link .../{path}?uid=..&token=.. in the text of {_subject(msg)!r}:\n{text}"
    if frontend is not None:
        assert m.group(1) == frontend.rstrip("/"), (
            f"link base {m.group(1)!r}, expected the frontend {frontend!r}:\n{text}")
    return urllib.parse.unquote(m.group(2)), urllib.parse.unquote(m.group(3))


def _addressed_to(rec, to):
    want = to.strip().lower()
    if any(r.strip().strip("<>").lower() == want for r in rec.rcpt_tos):
        return True
    try:
        header = rec.msg["To"]
        addrs = [a.addr_spec.lower() for a in header.addresses] if header is not None else []
    except Exception:  # a To header the parser cannot read: compare the text
        addrs = [str(rec.msg.get("To", "")).strip().lower()]
    return want in addrs


def _subject(msg):
    try:
        return str(msg.get("Subject", ""))
    except Exception:
        return "(unreadable subject)"


class Mailbox:
    """What tests read from an SmtpSink. wait_for returns each message once (per Mailbox):
    calling it twice for the same address gives the first email, then the second."""

    def __init__(self, sink):
        self.sink = sink
        self._returned = set()

    def mark(self):
        """A point in time for since=: only messages received after it count."""
        return len(self.sink.received())

    @staticmethod
    def _after(rec, since):
        if since is None:
            return True
        if isinstance(since, float):  # a time.time() value
            return rec.at >= since
        return rec.seq > since  # a mark()

    def wait_for(self, to, subject_contains=None, timeout=MAIL_WAIT, since=None):
        """The oldest email to `to` (envelope recipient or To header, case-insensitive) whose
        subject contains subject_contains, received after since (a mark() or a time.time()
        value) and not returned before by this Mailbox. Waits up to timeout seconds; raises
        AssertionError listing what did arrive."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.sink.received()
            for rec in received:
                if rec.seq in self._returned or not self._after(rec, since):
                    continue
                if not _addressed_to(rec, to):
                    continue
                if subject_contains is not None and subject_contains not in _subject(rec.msg):
                    continue
                self._returned.add(rec.seq)
                return rec.msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(self._nothing_for(to, subject_contains, timeout, since,
                                                       received))
            self.sink.wait_change(len(received), min(left, 0.5))

    def _nothing_for(self, to, subject_contains, timeout, since, received):
        what = f"no email to {to}"
        if subject_contains is not None:
            what += f" with a subject containing {subject_contains!r}"
        if since is not None:
            what += f" since {since!r}"
        lines = [f"{what} within {timeout}s; the sink at {self.sink.url} received "
                 f"{len(received)} message(s)" + (":" if received else ".")]
        for rec in received[-30:]:
            flags = " (already returned)" if rec.seq in self._returned else ""
            lines.append(f"  #{rec.seq} to {', '.join(rec.rcpt_tos)}: "
                         f"{_subject(rec.msg)!r}{flags}")
        return "\n".join(lines)

    def all_to(self, to):
        """Every email received so far for `to`, oldest first (no waiting)."""
        return [rec.msg for rec in self.sink.received() if _addressed_to(rec, to)]

    def messages(self):
        return [rec.msg for rec in self.sink.received()]

    # The message helpers, also as methods for convenience.
    mail_text = staticmethod(mail_text)
    mail_html = staticmethod(mail_html)
    mail_attachments = staticmethod(mail_attachments)
    link_params = staticmethod(link_params)


_session_sink = None
_session_sink_lock = threading.Lock()


def session_sink():
    """The session's SMTP sink, started on first use (stopped at exit); None when
    python3-aiosmtpd is missing (servers then write mail to files)."""
    global _session_sink
    with _session_sink_lock:
        if _session_sink is None and _SmtpController is not None:
            _session_sink = SmtpSink().start()
            atexit.register(_session_sink.stop)
        return _session_sink


def smtp_unavailable_reason():
    return None if _SmtpController is not None else (
        f"python3-aiosmtpd is not installed ({_SMTP_IMPORT_ERROR})")


# ---------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------

_live_servers = []
_live_lock = threading.Lock()

try:
    _libc = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not glibc: teardown and atexit still kill the server
    _libc = None
_PR_SET_PDEATHSIG = 1


def _child_setup():
    # Runs in the child between fork and exec: die with the test process even if it is
    # killed with SIGKILL (no atexit then). The session itself comes from start_new_session.
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def _kill_leftover_servers():
    with _live_lock:
        servers = list(_live_servers)
    for s in servers:
        if s.proc is not None:
            _kill_group(s.proc.pid)


class ServerError(AssertionError):
    pass


class Server:
    """One running `shopd serve` with its own temp dir and database."""

    def __init__(self, env=None, name="shopd"):
        self.bin = shopd_bin()
        self.overrides = dict(env or {})
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{name}-test-"))
        self.log_path = self.tmp / "server.log"
        self.mail_dir = self.tmp / "mail"
        self.media_dir = self.tmp / "media"
        self.var_dir = self.tmp / "var"
        for d in (self.mail_dir, self.media_dir, self.var_dir):
            d.mkdir()
        self.proc = None
        self.port = None
        self.pg_name = None
        self.exit_code = None
        self.stopped = False
        self.healthy = False  # became healthy; only then is the exit code checked
        self.sigterm_sent = False
        self.failed = False  # keeps the temp dir when the server itself misbehaved
        self.secret_key = self.overrides.get("SHOPD_SECRET_KEY", TEST_SECRET_KEY)
        if "SHOPD_DATABASE_URL" in self.overrides:
            self.database_url = self.overrides["SHOPD_DATABASE_URL"]
        elif DB_MODE == "pg":
            self.pg_name, self.database_url = pg_create_database()
        else:
            self.database_url = f"sqlite://{self.tmp}/shopd.db"
        self.env = self._base_env()

    def _base_env(self):
        # Inherit PATH, ASAN_OPTIONS and the like, but no SHOPD_* setting of the caller's
        # shell except the ones the harness passes on deliberately.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPD_")}
        env.update({
            "SHOPD_DATABASE_URL": self.database_url,
            "SHOPD_SECRET_KEY": TEST_SECRET_KEY,
            "SHOPD_VAR_DIR": str(self.var_dir),
            "SHOPD_MEDIA_DIR": str(self.media_dir),
            "SHOPD_MAIL_URL": self._default_mail_url(),
            "SHOPD_THREADS": "4",
            # Every test comes from 127.0.0.1: the documented limits would throttle the
            # suite itself. Rate-limit tests start servers with SHOPD_RATE_LIMITS="".
            "SHOPD_RATE_LIMITS": "*=100000/60",
        })
        if os.environ.get("SHOPD_ARGON2_MEMORY_KIB"):
            env["SHOPD_ARGON2_MEMORY_KIB"] = os.environ["SHOPD_ARGON2_MEMORY_KIB"]
        env.update({k: str(v) for k, v in self.overrides.items()})
        if env["SHOPD_MAIL_URL"] == MAIL_TO_FILES:
            env["SHOPD_MAIL_URL"] = f"file://{self.mail_dir}"
        return env

    def _default_mail_url(self):
        if "SHOPD_MAIL_URL" in self.overrides:
            return self.overrides["SHOPD_MAIL_URL"]  # and no sink started for it
        sink = session_sink()
        return sink.url if sink is not None else f"file://{self.mail_dir}"

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        if not self.bin.is_file():
            raise ServerError(f"shopd binary not found at {self.bin} (build it, or set SHOPD_BIN)")
        for attempt in range(3):
            self.port = free_port()
            self.env["SHOPD_LISTEN"] = f"127.0.0.1:{self.port}"
            self.env["SHOPD_PUBLIC_URL"] = self.overrides.get(
                "SHOPD_PUBLIC_URL", f"http://127.0.0.1:{self.port}")
            with open(self.log_path, "ab") as log:
                log.write(f"=== {' '.join([str(self.bin), 'serve'])} on port {self.port}\n".encode())
                log.flush()
                self.proc = subprocess.Popen(
                    [str(self.bin), "serve"], cwd=self.tmp, env=self.env,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, preexec_fn=_child_setup)
            with _live_lock:
                _live_servers.append(self)
            if self._wait_healthy():
                self.healthy = True
                return self
            retry = self._exited() and "in use" in tail(self.log_path, 20)
            self._kill()
            if not retry:
                break
        self.failed = True
        if self.proc.returncode is not None and self.proc.returncode != -signal.SIGKILL:
            why = f"shopd exited with code {self.proc.returncode} while starting"
        else:
            why = f"shopd did not answer GET /healthz with 200 within {START_TIMEOUT}s"
        raise ServerError(f"{why}; log {self.log_path}:\n{tail(self.log_path)}")

    def _wait_healthy(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._exited():
                return False
            try:
                r = http("GET", self.url("/healthz"), timeout=2)
                if r.status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return False

    def _exited(self):
        """True once the server process has exited. Does not reap it: until _kill reaps
        it, its pid (and so its process group id) cannot be reused by another process."""
        if self.proc.returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, self.proc.pid,
                             os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def _kill(self):
        """SIGKILLs the whole process group, then reaps the server."""
        if self.proc is not None:
            if self.proc.returncode is None:
                _kill_group(self.proc.pid)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        with _live_lock:
            if self in _live_servers:
                _live_servers.remove(self)

    def terminate(self):
        """Sends SIGTERM (graceful shutdown) without waiting; stop() then checks the exit."""
        self.sigterm_sent = True
        if not self._exited():
            os.kill(self.proc.pid, signal.SIGTERM)

    def stop(self):
        """SIGTERM, wait, and assert a clean exit (code 0). Always cleans up. Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        problem = None
        try:
            if self.healthy:
                if not self._exited():
                    if not self.sigterm_sent:
                        self.terminate()
                elif not self.sigterm_sent:
                    problem = "shopd died while the tests ran"
                deadline = time.monotonic() + STOP_TIMEOUT
                while problem is None and not self._exited():
                    if time.monotonic() > deadline:
                        problem = f"shopd did not exit within {STOP_TIMEOUT}s of SIGTERM"
                    time.sleep(0.02)
        finally:
            self._kill()  # the whole process group, whatever happened; reaps the server
            if self.healthy:
                self.exit_code = self.proc.returncode
                if problem == "shopd died while the tests ran":
                    problem += f" (exit code {self.exit_code})"
                elif problem is None and self.exit_code != 0:
                    problem = (f"shopd exited with code {self.exit_code} after SIGTERM "
                               "(expected 0: graceful shutdown)")
            if problem:
                self.failed = True
            if KEEP or problem:
                self.report(sys.__stderr__)
            try:
                if self.pg_name:
                    pg_drop_database(self.pg_name)
                    self.pg_name = None
            finally:
                if not KEEP and not self.failed:
                    shutil.rmtree(self.tmp, ignore_errors=True)
        if problem:
            raise ServerError(f"{problem}; log {self.log_path}:\n{tail(self.log_path)}")

    def report(self, stream):
        stream.write(f"\n--- shopd log {self.log_path} (last {LOG_TAIL_LINES} lines; "
                     f"temp dir {self.tmp} {'kept' if KEEP or self.failed else 'removed'}) ---\n")
        stream.write(tail(self.log_path) + "\n")
        stream.flush()

    # -- helpers -----------------------------------------------------------

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, path):
        return self.base_url + path

    @property
    def api(self):
        return Api(self)

    @property
    def mail_url(self):
        return self.env["SHOPD_MAIL_URL"]

    @property
    def frontend_url(self):
        """Base of the links in this server's emails."""
        return self.env.get("SHOPD_FRONTEND_URL", "http://localhost:3000").rstrip("/")

    def mail_files(self):
        """The .eml files written to the mail dir (SHOPD_MAIL_URL=MAIL_TO_FILES), parsed,
        oldest first."""
        return [parse_email(p.read_bytes()) for p in sorted(self.mail_dir.glob("*.eml"))]

    def sql(self, statement):
        """Runs one SQL statement on this server's database; returns its rows as tuples of
        strings (NULL as None), [] when it returns none."""
        return run_sql(self.database_url, statement)

    def jobs(self, kind=None):
        """The outbox rows, oldest first, as dicts (id, kind, payload, attempts, run_at,
        locked_until, done_at, failed_at, last_error; integers as int, NULL as None)."""
        cols = ["id", "kind", "payload", "attempts", "run_at", "locked_until", "done_at",
                "failed_at", "last_error"]
        where = "" if kind is None else f" WHERE kind = {sql_text(kind)}"
        rows = self.sql(f"SELECT {', '.join(cols)} FROM jobs{where} ORDER BY id")
        ints = {"id", "attempts", "run_at", "locked_until", "done_at", "failed_at"}
        return [{c: (int(v) if c in ints and v is not None else v) for c, v in zip(cols, row)}
                for row in rows]

    def cli(self, *args, timeout=120, env=None):
        """Runs `shopd <args>` with this server's environment (same database and key)."""
        e = dict(self.env)
        e.update(env or {})
        return run_cli(args, e, cwd=self.tmp, timeout=timeout)


def sql_text(s):
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def run_sql(database_url, statement):
    """One SQL statement on a database given by its shopd URL (Python's sqlite3, or psql
    for PostgreSQL); rows as tuples of strings, NULL as None."""
    url = database_url
    if url.startswith("sqlite://"):
        con = sqlite3.connect(url[len("sqlite://"):], timeout=10)
        try:
            con.execute("PRAGMA foreign_keys = ON")  # as every shopd connection
            rows = con.execute(statement).fetchall()
            con.commit()
        finally:
            con.close()
        return [tuple(None if v is None else str(v) for v in row) for row in rows]
    if url.startswith(("postgres://", "postgresql://")):
        r = subprocess.run(
            ["psql", url, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t", "-F", "\x1f",
             "-R", "\x1d", "-P", "null=\x1e", "-c", statement],
            capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed ({r.returncode}) on {statement!r}: {r.stderr.strip()}")
        # Rows end in \x1d (the last in a newline), fields in \x1f, NULL is \x1e: values may
        # hold newlines, and str.splitlines() would also split at \x1d and \x1e.
        if r.stdout == "":
            return []
        out = r.stdout[:-1] if r.stdout.endswith("\n") else r.stdout
        return [tuple(None if v == "\x1e" else v for v in row.split("\x1f"))
                for row in out.split("\x1d")]
    raise RuntimeError(f"unknown database URL {url!r}")


def run_cli(args, env, cwd=None, timeout=120):
    return subprocess.run([str(shopd_bin()), *map(str, args)], env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def cli_env(database_url, tmp):
    """The environment the harness gives a server, for CLI runs without a server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPD_")}
    env.update({
        "SHOPD_DATABASE_URL": database_url,
        "SHOPD_SECRET_KEY": TEST_SECRET_KEY,
        "SHOPD_VAR_DIR": f"{tmp}/var",
        "SHOPD_MEDIA_DIR": f"{tmp}/media",
        "SHOPD_MAIL_URL": f"file://{tmp}/mail",
    })
    if os.environ.get("SHOPD_ARGON2_MEMORY_KIB"):
        env["SHOPD_ARGON2_MEMORY_KIB"] = os.environ["SHOPD_ARGON2_MEMORY_KIB"]
    return env


# ---------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------

Tokens = namedtuple("Tokens", "access refresh user")
User = namedtuple("User", "id email password access refresh")


def expect(r, status):
    """Asserts the status code and a JSON body; returns the parsed body."""
    assert r.status_code == status, (
        f"{r.request.method} {r.request.url}: expected {status}, got {r.status_code}: {r.text[:2000]}")
    ctype = r.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "application/json", (
        f"{r.request.method} {r.request.url}: Content-Type {ctype!r}, body {r.text[:500]!r}")
    return r.json()


class Api:
    def __init__(self, server):
        self.server = server

    def url(self, path):
        return self.server.url(path)

    def request(self, method, path, **kw):
        return http(method, self.url(path), **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def options(self, path, **kw):
        return self.request("OPTIONS", path, **kw)

    @staticmethod
    def auth(token):
        return {"Authorization": f"Bearer {token}"}

    @staticmethod
    def unique_email(prefix="user"):
        return unique_email(prefix)

    def register(self, email=None, password=None, headers=None, **extra):
        """Registers (asserting 201) and returns the response JSON."""
        email = email or unique_email()
        password = password or strong_password()
        body = {"email": email, "password": password, "password_confirm": password}
        body.update(extra)
        return expect(self.post("/api/v1/auth/register/", json=body, headers=headers), 201)

    def login(self, email, password):
        """Logs in (asserting 200) and returns Tokens(access, refresh, user)."""
        body = expect(self.post("/api/v1/auth/login/", json={"email": email, "password": password}), 200)
        d = body["data"]
        return Tokens(d["access_token"], d["refresh_token"], d["user"])

    def new_user(self, **extra):
        """Registers a fresh customer; returns User(id, email, password, access, refresh)."""
        email = extra.pop("email", None) or unique_email()
        password = extra.pop("password", None) or strong_password()
        d = self.register(email=email, password=password, **extra)["data"]
        return User(d["user"]["id"], email, password, d["access_token"], d["refresh_token"])

    def profile(self, token):
        return self.get("/api/v1/auth/profile/", headers=self.auth(token))


# ---------------------------------------------------------------------------
# JWT helpers (stdlib only)
# ---------------------------------------------------------------------------

def b64url_encode(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forge_token(claims, key=TEST_SECRET_KEY, alg="HS256", header=None):
    """Builds a JWT. alg HS256/HS384/HS512 sign with key; "none" (any case) leaves the
    signature empty. header replaces the default {"alg": alg, "typ": "JWT"}."""
    if header is None:
        header = {"alg": alg, "typ": "JWT"}
    h = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    p = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{h}.{p}".encode("ascii")
    digests = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    if alg.lower() == "none":
        sig = ""
    else:
        k = key.encode() if isinstance(key, str) else key
        sig = b64url_encode(hmac.new(k, signing_input, digests[alg]).digest())
    return f"{h}.{p}.{sig}"


def decode_token(token):
    """Returns (header, claims) without verifying anything."""
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


def signature_valid(token, key=TEST_SECRET_KEY):
    h, p, s = token.split(".")
    k = key.encode() if isinstance(key, str) else key
    want = hmac.new(k, f"{h}.{p}".encode("ascii"), hashlib.sha256).digest()
    return hmac.compare_digest(want, b64url_decode(s))


def claims_for(user_id, token_type="access", lifetime=900, now=None, **extra):
    """simplejwt-style claims, as a Django service holding the same key would issue."""
    now = int(time.time()) if now is None else int(now)
    c = {"token_type": token_type, "exp": now + lifetime, "iat": now,
         "jti": uuid.uuid4().hex, "user_id": user_id}
    c.update(extra)
    return c


