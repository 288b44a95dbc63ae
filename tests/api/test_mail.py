"""Email through the transactional outbox, over real SMTP.

A registration through POST /api/v1/auth/register/ queues a verification email in the same
transaction as the user; the job runner delivers it to the harness's SMTP sink. When the SMTP
server is down the request still succeeds and the email is not lost: it is retried with
back-off (first retry 5 s after the first failure) and arrives once a server listens.

These tests skip, saying why, only while registration queues no email at all (checked in
the outbox table, not guessed from a missing delivery): once it does, every failure to
deliver is a failure.
"""

import base64
import time
import urllib.parse

import pytest

from shopdtest import (MAIL_TO_FILES, expect, free_port, link_params, mail_html, mail_text,
                       strong_password, unique_email)

# The AUTH tests' sink takes AUTH over plain TCP on loopback, which aiosmtpd warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

REGISTER = "/api/v1/auth/register/"
RETRY_WAIT = 20  # seconds: the first retry comes 5 s after the first failure


def register(server, email):
    """Registers through v1 (asserting 201); returns the new user's id."""
    password = strong_password()
    body = {"email": email, "password": password, "password_confirm": password}
    d = expect(server.api.post(REGISTER, json=body), 201)
    return d["data"]["user"]["id"]


def mail_jobs_to(server, email):
    """The outbox rows of emails queued for this address."""
    return [j for j in server.jobs("mail") if f'"to":"{email}"' in j["payload"]]


def require_mail_queued(server, email):
    """Skips while registration queues no email (not wired yet); the job row is written in
    the registration's own transaction, so it exists when the 201 has arrived."""
    jobs = mail_jobs_to(server, email)
    if not jobs:
        pytest.skip("POST /api/v1/auth/register/ queues no email yet (no mail job in the "
                    "outbox after a 201)")
    return jobs


def wait_job(server, email, pred, what, timeout):
    deadline = time.monotonic() + timeout
    while True:
        jobs = mail_jobs_to(server, email)
        if jobs and pred(jobs[0]):
            return jobs[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"mail job to {email}: {what} not seen within {timeout}s: "
                                 f"{jobs}")
        time.sleep(0.1)


def assert_verification_email(server, msg, email, user_id):
    assert msg["Subject"], "empty subject"
    assert msg["From"], "no From header"
    assert [a.addr_spec for a in msg["To"].addresses] == [email]
    assert msg["Message-ID"] and msg["Date"]
    text, html = mail_text(msg), mail_html(msg)
    uid, token = link_params(msg, "verify-email", frontend=server.frontend_url)
    link = f"{server.frontend_url}/verify-email?uid={uid}&token={token}"
    assert link in text
    # The token is also shown on its own, for users who type it in.
    assert text.count(token) >= 2, text
    assert token in html
    # uid is base64url of "u<id>" (legacy: "<id>"), as verify.h documents.
    decoded = base64.urlsafe_b64decode(uid + "=" * (-len(uid) % 4)).decode()
    assert decoded in (f"u{user_id}", str(user_id)), (uid, decoded, user_id)


def test_registration_sends_one_verification_email(server, mailbox):
    email = unique_email("mail")
    user_id = register(server, email)
    require_mail_queued(server, email)

    msg = mailbox.wait_for(email)
    assert_verification_email(server, msg, email, user_id)
    job = wait_job(server, email, lambda j: j["done_at"] is not None, "done_at", 5)
    assert job["attempts"] == 1 and job["failed_at"] is None and job["last_error"] is None
    # Exactly one: nothing else arrives for this address.
    time.sleep(1.5)
    assert len(mailbox.all_to(email)) == 1, [m["Subject"] for m in mailbox.all_to(email)]
    assert len(mail_jobs_to(server, email)) == 1


def test_smtp_down_at_registration_loses_nothing(make_server, make_smtp_sink):
    port = free_port()  # nothing listens here yet
    s = make_server(SHOPD_MAIL_URL=f"smtp://127.0.0.1:{port}")
    email = unique_email("down")

    user_id = register(s, email)  # 201 although SMTP is unreachable
    require_mail_queued(s, email)
    # The first attempt fails (connection refused) and is recorded; the row stays pending.
    job = wait_job(s, email, lambda j: j["attempts"] >= 1 and j["locked_until"] is None,
                   "a failed first attempt", 10)
    assert job["done_at"] is None and job["failed_at"] is None
    assert job["last_error"], job
    assert job["run_at"] >= int(time.time()) + 1, job  # pushed out by the back-off

    # An SMTP server comes up on that port: the retry delivers the same email.
    sink = make_smtp_sink(port=port)
    msg = sink.mailbox().wait_for(email, timeout=RETRY_WAIT)
    assert_verification_email(s, msg, email, user_id)
    job = wait_job(s, email, lambda j: j["done_at"] is not None, "done_at", 5)
    assert job["attempts"] >= 2 and job["failed_at"] is None
    time.sleep(1)
    assert len(sink.mailbox().all_to(email)) == 1


def test_file_mail_url_writes_eml(make_server):
    """SHOPD_MAIL_URL=file://DIR: one parseable .eml per message."""
    s = make_server(SHOPD_MAIL_URL=MAIL_TO_FILES)
    assert s.mail_url == f"file://{s.mail_dir}"
    email = unique_email("file")
    user_id = register(s, email)
    require_mail_queued(s, email)
    wait_job(s, email, lambda j: j["done_at"] is not None, "done_at", 10)
    msgs = [m for m in s.mail_files() if m["To"] == email]
    assert len(msgs) == 1, [m["To"] for m in s.mail_files()]
    assert_verification_email(s, msgs[0], email, user_id)
    assert not [p for p in s.mail_dir.iterdir() if not p.name.endswith(".eml")]


def test_registration_with_mail_misconfigured_still_succeeds(make_server):
    """A delivery route that can never work fails the job, never the request."""
    s = make_server(SHOPD_MAIL_URL="nosuch://anywhere")
    email = unique_email("misconf")
    register(s, email)
    require_mail_queued(s, email)
    job = wait_job(s, email, lambda j: j["attempts"] >= 1 and j["locked_until"] is None,
                   "a failed first attempt", 10)
    assert "unsupported" in job["last_error"], job
    assert job["done_at"] is None
    assert expect(s.api.get("/healthz"), 200) == {"status": "ok"}


def test_smtp_auth_credentials_are_url_decoded(make_server, make_smtp_sink):
    """smtp://user:pass@host:port: the userinfo becomes SMTP AUTH, percent-decoded."""
    user, password = "shop@example.com", "p@ss:w/rd %"
    sink = make_smtp_sink(auth=(user, password))
    quoted = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"
    s = make_server(SHOPD_MAIL_URL=f"smtp://{quoted}@127.0.0.1:{sink.port}")
    email = unique_email("auth")
    user_id = register(s, email)
    require_mail_queued(s, email)
    msg = sink.mailbox().wait_for(email)
    assert_verification_email(s, msg, email, user_id)
    assert sink.logins == [user] and sink.refused_logins == []
    # The password never reaches the log.
    assert password not in s.log_path.read_text() and quoted not in s.log_path.read_text()


def test_smtp_auth_refused_is_retried_not_lost(make_server, make_smtp_sink):
    sink = make_smtp_sink(auth=("shop", "right"))
    s = make_server(SHOPD_MAIL_URL=f"smtp://shop:wrong@127.0.0.1:{sink.port}")
    email = unique_email("authbad")
    register(s, email)
    require_mail_queued(s, email)
    job = wait_job(s, email, lambda j: j["attempts"] >= 1 and j["locked_until"] is None,
                   "a failed first attempt", 10)
    assert job["done_at"] is None and job["failed_at"] is None and job["last_error"], job
    assert sink.mailbox().all_to(email) == []
    assert sink.refused_logins
