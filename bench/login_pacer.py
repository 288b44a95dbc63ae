#!/usr/bin/env python3
"""Background login load for bench/run.sh: starts one POST /api/v1/auth/login/
every 1/RATE seconds for DURATION seconds, each on a worker thread of its own
pool, so a slow login never delays the next one (the rate is open-loop).

usage: login_pacer.py URL EMAIL PASSWORD RATE DURATION
Prints one line: achieved=<ok logins/s> ok=<n> failed=<n> scheduled=<n>
p50_ms=<..> p99_ms=<..> late=<n starts more than 10 ms behind schedule>
"""
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

url, email, password = sys.argv[1], sys.argv[2], sys.argv[3]
rate, duration = float(sys.argv[4]), float(sys.argv[5])
u = urllib.parse.urlsplit(url)
body = json.dumps({"email": email, "password": password}).encode()
headers = {"Content-Type": "application/json"}

local = threading.local()
lock = threading.Lock()
latencies, failures, done_at = [], [0], []


def conn():
    c = getattr(local, "conn", None)
    if c is None:
        c = local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    return c


def login():
    t0 = time.monotonic()
    try:
        c = conn()
        c.request("POST", u.path, body=body, headers=headers)
        r = c.getresponse()
        r.read()
        ok = r.status == 200
        if r.getheader("Connection", "").lower() == "close":
            c.close()
            local.conn = None
    except Exception:
        ok = False
        try:
            local.conn.close()
        except Exception:
            pass
        local.conn = None
    dt = (time.monotonic() - t0) * 1000.0
    with lock:
        if ok:
            latencies.append(dt)
            done_at.append(time.monotonic())
        else:
            failures[0] += 1


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def give_up(signum, frame):
    print("login_pacer: still running %d s after the window; giving up" % GRACE, file=sys.stderr)
    sys.stderr.flush()
    os._exit(1)


# A hard bound on the whole run, whatever the server does.
GRACE = 30
signal.signal(signal.SIGALRM, give_up)
signal.alarm(int(duration) + GRACE)

period = 1.0 / rate
n = int(round(rate * duration))
late = 0
# 32 workers: at 20/s a login may take up to 1.6 s before the pool runs dry.
with ThreadPoolExecutor(max_workers=32) as pool:
    start = time.monotonic()
    for i in range(n):
        due = start + i * period
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        elif now - due > 0.010:
            late += 1
        pool.submit(login)
    # Logins still running at the end of the window are waited for (bounded
    # by the 10 s socket timeout); the rate counts only those that completed
    # inside the window, so a server that falls behind shows a lower rate.
in_window = sum(1 for t in done_at if t <= start + duration)
ok = len(latencies)
print("achieved=%.1f ok=%d failed=%d scheduled=%d p50_ms=%.1f p99_ms=%.1f late=%d"
      % (in_window / duration, ok, failures[0], n, pct(latencies, 50), pct(latencies, 99), late))
