#!/usr/bin/env python3
"""bench/gen_checkout.py - prepares and checks the checkout benchmark's database (bench/checkout.sh).

usage: gen_checkout.py seed DB TEMPLATE_EMAIL USERS TOKENS_FILE [--no-mail]
       gen_checkout.py count DB
       gen_checkout.py check DB FIRST_ORDER_ID

DB is sqlite:///PATH (Python's sqlite3 module) or postgres://... (fed to psql, found as
scripts/pg.sh finds PostgreSQL's binaries, else on PATH; PSQL overrides). The database has been
migrated and holds one user registered through the API (TEMPLATE_EMAIL).

seed: one category with three products of one variant each (inventory INVENTORY apiece); USERS
users copied from the template (its password hash, a new email and username), each with one
default shipping address and a cart of three lines (quantities 1, 2, 1: 18.95 + 2 x 4.50 + 2.75 =
30.70). All of it set-based SQL in one transaction, the same statements on both databases, through
the schema's own triggers. Then one HS256 access token per user, signed with SHOPD_SECRET_KEY as
src/core/jwt.c writes them, to TOKENS_FILE: one line "<token> <address_id>" per user. With
--no-mail the shoppers' email preferences turn order confirmations off (no email job is queued),
to tell the checkout's own cost from the emails'.

count: prints the largest order id (0 when there is none) and the number of jobs done.

check: what the benchmark left behind, as KEY=VALUE lines: orders made since FIRST_ORDER_ID,
their statuses, the bench variants' lowest inventory, whether the stock each variant lost equals
the quantities of the orders holding stock, how many bench carts still have lines, and the
outbox's jobs (the confirmation emails) not yet done, failed and done.
"""
import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

INVENTORY = 10_000_000  # per variant: 2.5 million orders of 2 units, far beyond any run
EMAIL_DOMAIN = "bench-checkout.example.com"
CATEGORY_SLUG = "checkout-bench"
# (slug, name, price in minor units, weight, quantity in every cart)
PRODUCTS = (
    ("bench-darjeeling", "Bench Darjeeling", 1895, "250g", 1),
    ("bench-assam", "Bench Assam", 450, "100g", 2),
    ("bench-nilgiri", "Bench Nilgiri", 275, "50g", 1),
)
TOKEN_LIFETIME = 6 * 3600


def q(s):
    """A SQL string literal."""
    return "'" + str(s).replace("'", "''") + "'"


def bench_users(alias="u"):
    return f"{alias}.email LIKE {q('%@' + EMAIL_DOMAIN)}"


class Db:
    """The few things this script asks of a database: run statements in one transaction and
    return the last statement's rows as tuples of strings."""

    def __init__(self, url):
        self.url = url
        if url.startswith("sqlite://"):
            path = url[len("sqlite://"):]
            if not os.path.exists(path):
                sys.exit(f"gen_checkout: no database at {path}")
            self.con = sqlite3.connect(path, timeout=30, isolation_level=None)
            self.con.execute("PRAGMA foreign_keys = ON")
        elif url.startswith(("postgres://", "postgresql://")):
            self.con = None
            self.psql = os.environ.get("PSQL") or find_psql()
        else:
            sys.exit(f"gen_checkout: unsupported database URL {url}")

    def run(self, statements):
        if self.con is not None:
            cur = self.con.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                rows = []
                for s in statements:
                    rows = cur.execute(s).fetchall()
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            return [tuple("" if v is None else str(v) for v in r) for r in rows]
        sql = ";\n".join(statements) + ";\n"
        p = subprocess.run(
            [self.psql, "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-1",
             "-d", self.url],
            input=sql, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            sys.exit(f"gen_checkout: psql failed:\n{p.stderr}")
        return [tuple(line.split("|")) for line in p.stdout.splitlines() if line]


def find_psql():
    candidates = []
    pg_bin = os.environ.get("PG_BIN")
    if pg_bin:
        candidates.append(Path(pg_bin) / "psql")
    candidates.append(Path("/usr/lib/postgresql/15/bin/psql"))
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0, reverse=True)
    candidates.extend(versions)
    for c in candidates:
        if os.access(c, os.X_OK):
            return str(c)
    found = shutil.which("psql")
    if found:
        return found
    sys.exit("gen_checkout: psql is missing (apt-get install postgresql-client, or set PSQL)")


def series(n):
    """A recursive CTE of 1..n: the same text on SQLite and PostgreSQL."""
    return f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {int(n)}) "


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def access_token(key, user_id, now_us):
    """An access token as jwt_encode writes it: the fixed header, the claims in the order
    token_type, exp, iat, jti, user_id in compact JSON, base64url without padding. The jti is
    jwt_new_claims's: 14 hex digits of the issue time in microseconds, 18 random hex digits."""
    iat = now_us // 1_000_000
    payload = {
        "token_type": "access",
        "exp": iat + TOKEN_LIFETIME,
        "iat": iat,
        "jti": f"{now_us & ((1 << 56) - 1):014x}{secrets.token_hex(9)}",
        "user_id": user_id,
    }
    signing = (b64url(b'{"alg":"HS256","typ":"JWT"}') + b"." +
               b64url(json.dumps(payload, separators=(",", ":")).encode()))
    mac = hmac.new(key, signing, hashlib.sha256).digest()
    return (signing + b"." + b64url(mac)).decode()


def seed(db, template_email, n_users, tokens_path, mail=True):
    key = os.environ.get("SHOPD_SECRET_KEY", "").encode()
    if len(key) < 16:
        sys.exit("gen_checkout: set SHOPD_SECRET_KEY (the server's secret) to sign the tokens")
    if db.run([f"SELECT count(*) FROM categories WHERE slug = {q(CATEGORY_SLUG)}"])[0][0] != "0":
        sys.exit("gen_checkout: the database was seeded already; start from a fresh one")
    now = int(time.time())
    users = bench_users()
    stmts = [
        "INSERT INTO categories (category_id, name, slug, description, tags, created_at, "
        f"updated_at) VALUES ('CHKBENCH', 'Checkout Bench', {q(CATEGORY_SLUG)}, "
        f"'The checkout benchmark''s teas.', '[]', {now}, {now})",
    ]
    for slug, name, price, weight, _ in PRODUCTS:
        stmts.append(
            "INSERT INTO products (name, slug, description, category_id, tags, image_urls, "
            f"is_active, created_at, updated_at) SELECT {q(name)}, {q(slug)}, "
            f"'A tea for the checkout benchmark.', c.id, '[]', '[]', TRUE, {now}, {now} "
            f"FROM categories c WHERE c.slug = {q(CATEGORY_SLUG)}")
        stmts.append(
            "INSERT INTO product_variants (product_id, position, price_minor, weight, inventory) "
            f"SELECT p.id, 0, {price}, {q(weight)}, {INVENTORY} FROM products p "
            f"WHERE p.slug = {q(slug)}")
    # Verified shoppers, so that no surface turns them away for an unverified email.
    stmts.append(
        "INSERT INTO users (username, email, password, first_name, last_name, user_type, is_staff, "
        "is_superuser, is_active, email_verified, date_joined, password_changed_us) "
        + series(n_users) +
        f"SELECT 'shopper' || g.n, 'shopper' || g.n || {q('@' + EMAIL_DOMAIN)}, t.password, "
        "'Bench', 'Shopper ' || g.n, t.user_type, FALSE, FALSE, TRUE, TRUE, t.date_joined, "
        "t.password_changed_us FROM g CROSS JOIN users t "
        f"WHERE lower(t.email) = lower({q(template_email)})")
    stmts.append(
        "INSERT INTO addresses (user_id, type, first_name, last_name, line1, city, state, "
        "postal_code, country, phone, is_default, created_at) SELECT u.id, 'shipping', "
        "u.first_name, u.last_name, '12 Bench Street', 'Anytown', 'Anystate', '123456', 'India', "
        f"'', TRUE, {now} FROM users u WHERE {users}")
    stmts.append(
        f"INSERT INTO carts (user_id, created_at, updated_at) SELECT u.id, {now}, {now} "
        f"FROM users u WHERE {users}")
    if not mail:
        stmts.append(
            "INSERT INTO email_preferences (user_id, order_confirmation, order_status_update) "
            f"SELECT u.id, FALSE, FALSE FROM users u WHERE {users}")
    for slug, _, _, _, qty in PRODUCTS:
        stmts.append(
            "INSERT INTO cart_items (cart_id, variant_id, quantity, created_at, updated_at) "
            f"SELECT c.id, v.id, {qty}, {now}, {now} FROM carts c "
            "JOIN users u ON u.id = c.user_id CROSS JOIN product_variants v "
            f"JOIN products p ON p.id = v.product_id WHERE {users} AND p.slug = {q(slug)}")
    stmts.append(
        "SELECT u.id, a.id FROM users u JOIN addresses a ON a.user_id = u.id "
        f"WHERE {users} ORDER BY u.id")
    rows = db.run(stmts)
    if len(rows) != n_users:
        sys.exit(f"gen_checkout: made {len(rows)} users instead of {n_users} "
                 f"(is {template_email} registered?)")
    now_us = time.time_ns() // 1000
    with open(tokens_path, "w") as f:
        for uid, aid in rows:
            f.write(f"{access_token(key, int(uid), now_us)} {aid}\n")
    total = sum(p[2] * p[4] for p in PRODUCTS)
    print(f"gen_checkout: {n_users} users, each with an address and a cart of {len(PRODUCTS)} "
          f"lines ({total // 100}.{total % 100:02d}); {len(PRODUCTS)} variants of "
          f"{INVENTORY} units{'' if mail else '; order emails off'}")


def count(db):
    print(*db.run(["SELECT (SELECT coalesce(max(id), 0) FROM orders), "
                   "(SELECT count(*) FROM jobs WHERE done_at IS NOT NULL)"])[0])


def check(db, first_order_id):
    since = int(first_order_id)
    slugs = ", ".join(q(p[0]) for p in PRODUCTS)
    variants = ("SELECT v.id FROM product_variants v JOIN products p ON p.id = v.product_id "
                f"WHERE p.slug IN ({slugs})")
    rows = db.run([
        f"SELECT 'orders', count(*) FROM orders WHERE id > {since} "
        "UNION ALL SELECT 'status_' || status || '_' || payment_status, count(*) FROM orders "
        f"WHERE id > {since} GROUP BY status, payment_status "
        "UNION ALL SELECT 'min_inventory', min(inventory) FROM product_variants "
        f"WHERE id IN ({variants}) "
        # Every unit a bench variant lost is on an order that still holds its stock.
        "UNION ALL SELECT 'stock_mismatches', count(*) FROM ("
        f"SELECT v.id, {INVENTORY} - v.inventory AS taken, "
        "(SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o "
        "ON o.id = oi.order_id WHERE oi.variant_id = v.id AND o.stock_held = TRUE) AS held "
        f"FROM product_variants v WHERE v.id IN ({variants})) s WHERE s.taken <> s.held "
        "UNION ALL SELECT 'carts_with_lines', count(DISTINCT c.id) FROM carts c "
        f"JOIN users u ON u.id = c.user_id JOIN cart_items i ON i.cart_id = c.id "
        f"WHERE {bench_users()} "
        "UNION ALL SELECT 'jobs_pending', count(*) FROM jobs "
        "WHERE done_at IS NULL AND failed_at IS NULL "
        "UNION ALL SELECT 'jobs_failed', count(*) FROM jobs WHERE failed_at IS NOT NULL "
        "UNION ALL SELECT 'jobs_done', count(*) FROM jobs WHERE done_at IS NOT NULL"
    ])
    for k, v in rows:
        print(f"{k}={v}")


def main():
    args = sys.argv[1:]
    usage = "\n".join(__doc__.strip().splitlines()[2:5])
    if not args:
        sys.exit(usage)
    cmd, rest = args[0], args[1:]
    if cmd == "seed" and (len(rest) == 4 or rest[4:] == ["--no-mail"]):
        seed(Db(rest[0]), rest[1], int(rest[2]), rest[3], mail=len(rest) == 4)
    elif cmd == "count" and len(rest) == 1:
        count(Db(rest[0]))
    elif cmd == "check" and len(rest) == 2:
        check(Db(rest[0]), rest[1])
    else:
        sys.exit(usage)


if __name__ == "__main__":
    main()
