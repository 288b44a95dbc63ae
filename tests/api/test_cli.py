"""The command line: version, migrate, createsuperuser."""

import re
import subprocess
import tempfile
import shutil

import pytest

from shopdtest import (DB_MODE, REPO_ROOT, FreshDatabase, cli_env, expect, run_cli, shopd_bin,
                       strong_password, unique_email, unique_hex)


def output(r):
    return f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"


@pytest.fixture
def fresh_db():
    """Factory: fresh_db(kind=None) -> FreshDatabase (SHOPD_TEST_DB's kind by default)."""
    made = []

    def factory(kind=None):
        db = FreshDatabase(kind)
        made.append(db)
        return db

    yield factory
    for db in made:
        db.drop()


@pytest.fixture
def tmp_dir():
    d = tempfile.mkdtemp(prefix="shopd-cli-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def project_version():
    m = re.search(r"version\s*:\s*'([^']+)'", (REPO_ROOT / "meson.build").read_text())
    return m.group(1) if m else None


def test_version(tmp_dir):
    r = run_cli(["version"], cli_env("sqlite://" + tmp_dir + "/unused.db", tmp_dir), cwd=tmp_dir, timeout=30)
    assert r.returncode == 0, output(r)
    assert re.search(r"\d+\.\d+\.\d+", r.stdout), output(r)
    want = project_version()
    if want:
        assert want in r.stdout, output(r)


def test_migrate_twice_is_idempotent(fresh_db, tmp_dir, make_server):
    db = fresh_db()
    env = cli_env(db.url, tmp_dir)
    for _ in range(2):
        r = run_cli(["migrate"], env, cwd=tmp_dir)
        assert r.returncode == 0, output(r)

    # the migrated database serves, keeps its data across another migrate
    s = make_server(SHOPD_DATABASE_URL=db.url)
    u = s.api.new_user()
    s.stop()
    r = run_cli(["migrate"], env, cwd=tmp_dir)
    assert r.returncode == 0, output(r)
    s2 = make_server(SHOPD_DATABASE_URL=db.url)
    assert s2.api.login(u.email, u.password).user["id"] == u.id


def concurrent_migrate(db, tmp_dir, n=2):
    env = cli_env(db.url, tmp_dir)
    procs = [subprocess.Popen([str(shopd_bin()), "migrate"], env=env, cwd=tmp_dir,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(n)]
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        results.append((p.returncode, out, err))
    for rc, out, err in results:
        assert rc == 0, f"concurrent migrate exited {rc}\nstdout: {out}\nstderr: {err}"


def test_concurrent_migrate_sqlite(fresh_db, tmp_dir, make_server):
    # a race shows only now and then: several rounds, each on a fresh database
    dbs = []
    for _ in range(8):
        db = fresh_db("sqlite")
        concurrent_migrate(db, tmp_dir)
        dbs.append(db)
    s = make_server(SHOPD_DATABASE_URL=dbs[0].url)
    u = s.api.new_user()
    assert s.api.login(u.email, u.password).user["id"] == u.id


@pytest.mark.skipif(DB_MODE != "pg", reason="PostgreSQL runs only with SHOPD_TEST_DB=pg")
def test_concurrent_migrate_pg(fresh_db, tmp_dir, make_server):
    # several servers sharing one PostgreSQL database may start (and migrate) at once
    db = fresh_db("pg")
    concurrent_migrate(db, tmp_dir)
    s = make_server(SHOPD_DATABASE_URL=db.url)
    u = s.api.new_user()
    assert s.api.login(u.email, u.password).user["id"] == u.id


def test_createsuperuser(server, api):
    email, password = unique_email("admin"), strong_password()
    username = "admin_" + unique_hex(8)
    r = server.cli("createsuperuser", "--username", username, "--email", email, "--password", password)
    assert r.returncode == 0, output(r)

    t = api.login(email, password)
    assert t.user == {"id": t.user["id"], "email": email, "user_type": "admin"}
    prof = expect(api.get("/api/v1/auth/profile/", headers=api.auth(t.access)), 200)
    assert prof["user_type"] == "admin"
    assert prof["email"] == email

    again = server.cli("createsuperuser", "--username", "admin_" + unique_hex(8), "--email", email,
                       "--password", strong_password())
    assert again.returncode != 0, output(again)
    assert (again.stdout + again.stderr).strip(), "createsuperuser failed without saying why"
    # the first admin is untouched
    assert api.login(email, password).user["id"] == t.user["id"]


def test_createsuperuser_email_taken_by_customer(server, api):
    u = api.new_user()
    r = server.cli("createsuperuser", "--username", "admin_" + unique_hex(8), "--email", u.email,
                   "--password", strong_password())
    assert r.returncode != 0, output(r)
    assert (r.stdout + r.stderr).strip()
    assert api.login(u.email, u.password).user["user_type"] == "customer"
