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
"""

import atexit
import base64
import ctypes
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
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


def strong_password():
    return f"Str0ng-Pass-{unique_hex(16)}"


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
            "SHOPD_MAIL_URL": f"file://{self.mail_dir}",
            "SHOPD_THREADS": "4",
        })
        if os.environ.get("SHOPD_ARGON2_MEMORY_KIB"):
            env["SHOPD_ARGON2_MEMORY_KIB"] = os.environ["SHOPD_ARGON2_MEMORY_KIB"]
        env.update({k: str(v) for k, v in self.overrides.items()})
        return env

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

    def cli(self, *args, timeout=120, env=None):
        """Runs `shopd <args>` with this server's environment (same database and key)."""
        e = dict(self.env)
        e.update(env or {})
        return run_cli(args, e, cwd=self.tmp, timeout=timeout)


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


