"""`shopd import-products FILE [--dry-run]` and `shopd seed-demo` (docs/import.md).

The import runs through the real binary with a server's environment (server.cli) on a
server of this module's own, so the products it creates never show up in other modules'
listings; the database is read back with server.sql. .xlsx files are written with
openpyxl, as a spreadsheet user would. The progress bar is checked on a pseudo-terminal.
seed-demo runs on a fresh server per test, so its counts are exact.
"""

import os
import pty
import re
import select
import subprocess
import time

import pytest

from shopdtest import (REPO_ROOT, Server, ServerError, run_cli, shopd_bin, sql_text,
                       unique_hex)

openpyxl = pytest.importorskip("openpyxl")

HEADER = "name,description,category_id,inventory,price_weights\n"
DEMO_IMAGES = REPO_ROOT / "data" / "demo"


def output(r):
    return f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"


@pytest.fixture(scope="module")
def srv():
    s = Server(name="shopd-import")
    try:
        s.start()
    except ServerError:
        s.stop()
        raise
    yield s
    s.stop()


def add_category(server, public_id, name=None):
    name = name or f"Category {public_id}"
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    now = int(time.time())
    server.sql("INSERT INTO categories (category_id, name, slug, created_at, updated_at) "
               f"VALUES ({sql_text(public_id)}, {sql_text(name)}, {sql_text(slug)}, {now}, {now})")
    return int(server.sql(f"SELECT id FROM categories WHERE category_id = {sql_text(public_id)}")[0][0])


@pytest.fixture
def cat(srv):
    """A fresh category of the module's server: (public category_id, categories.id)."""
    public_id = "imp-" + unique_hex(8)
    return public_id, add_category(srv, public_id)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def product(server, name):
    """(id, description, category id, [(price_minor, weight, inventory)...]) or None."""
    rows = server.sql(f"SELECT id, description, category_id FROM products WHERE name = {sql_text(name)}")
    if not rows:
        return None
    pid, desc, cid = rows[0]
    variants = server.sql(f"SELECT price_minor, weight, inventory FROM product_variants "
                          f"WHERE product_id = {pid} ORDER BY position")
    return int(pid), desc, int(cid), [(int(p), w, int(i)) for p, w, i in variants]


def count(server, table, where="1 = 1"):
    return int(server.sql(f"SELECT COUNT(*) FROM {table} WHERE {where}")[0][0])


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------

def test_document_example(srv, tmp_path):
    """The document's CSV verbatim: its price_weights are not quoted."""
    for public_id in ("001", "002"):
        if not srv.sql(f"SELECT 1 FROM categories WHERE category_id = '{public_id}'"):
            add_category(srv, public_id)
    f = write(tmp_path, "products.csv",
              HEADER
              + "Smartphone,Latest model smartphone,001,100,2000-100gms,3000-200gms,4000-300gms\n"
              + "Laptop,High performance laptop,002,50,50000-1kg,75000-1.5kg,100000-2kg\n")
    r = srv.cli("import-products", f)
    assert r.returncode == 0, output(r)
    assert r.stdout == "Imported 2 products (0 rows with errors)\n", output(r)
    assert r.stderr.strip() == "" or "row" not in r.stderr, output(r)
    _, desc, _, variants = product(srv, "Smartphone")
    assert desc == "Latest model smartphone"
    assert variants == [(200000, "100gms", 34), (300000, "200gms", 33), (400000, "300gms", 33)]
    _, _, _, variants = product(srv, "Laptop")
    assert variants == [(5000000, "1kg", 18), (7500000, "1.5kg", 16), (10000000, "2kg", 16)]


def test_row_errors_exit_1(srv, tmp_path, cat):
    public_id, cid = cat
    good, dup = "Good " + unique_hex(), "Dup " + unique_hex()
    f = write(tmp_path, "mixed.csv",
              HEADER
              + f'{good},"quoted, description",{public_id},5,"10-1kg,20-2kg"\n'
              + f"Bad {unique_hex()},x,nope-{unique_hex(4)},1,10-1kg\n"
              + f"{dup},x,{public_id},1,10-1kg\n"
              + f"{dup.upper()},x,{public_id},-1,oops\n")
    r = srv.cli("import-products", f)
    assert r.returncode == 1, output(r)
    assert r.stdout == "Imported 2 products (2 rows with errors)\n", output(r)
    lines = r.stderr.strip().splitlines()
    assert re.fullmatch(r'row 2: category_id: Category "nope-[0-9a-f]+" does not exist\.', lines[0]), output(r)
    assert lines[1:] == [
        f'row 4: name: "{dup.upper()}" already appears in row 3.',
        "row 4: inventory: Ensure this value is greater than or equal to 0.",
        'row 4: price_weights: Invalid price-weight pair "oops". Use price-weight, e.g. 2000-100gms.',
    ], output(r)
    _, desc, pcid, variants = product(srv, good)
    assert desc == "quoted, description" and pcid == cid
    assert variants == [(1000, "1kg", 3), (2000, "2kg", 2)]
    assert product(srv, dup) is not None


def test_dry_run_writes_nothing(srv, tmp_path, cat):
    public_id, _ = cat
    name = "Dry " + unique_hex()
    f = write(tmp_path, "dry.csv", HEADER + f"{name},d,{public_id},1,1-1kg\n"
                                          + f"{name} 2,d,missing-{unique_hex(4)},1,1-1kg\n")
    before = count(srv, "products")
    r = srv.cli("import-products", f, "--dry-run")
    assert r.returncode == 1, output(r)
    assert r.stdout == "Validated 2 rows: 1 valid, 1 with errors\n", output(r)
    assert "row 2: category_id: Category" in r.stderr, output(r)
    assert count(srv, "products") == before
    assert product(srv, name) is None
    # all good: exit 0, still nothing written
    f = write(tmp_path, "dry-ok.csv", HEADER + f"{name},d,{public_id},1,1-1kg\n")
    r = srv.cli("import-products", "--dry-run", f)
    assert r.returncode == 0, output(r)
    assert r.stdout == "Validated 1 row: 1 valid, 0 with errors\n", output(r)
    assert count(srv, "products") == before


def test_bom_crlf_and_header_order(srv, tmp_path, cat):
    public_id, _ = cat
    name = "Crlf " + unique_hex()
    text = ("\ufeffPRICE_WEIGHTS,Inventory,category_id,Name,Description\r\n"
            f"\"5-100gms,6-200gms\",9,{public_id},{name},\"two\r\nlines\"\r\n")
    r = srv.cli("import-products", write(tmp_path, "excel.csv", text))
    assert r.returncode == 0, output(r)
    pid, _, _, variants = product(srv, name)
    # compared in SQL: psql's text output reaches Python with universal newlines
    assert count(srv, "products", f"id = {pid} AND description LIKE 'two%lines' "
                 "AND length(description) = 10") == 1  # "two\r\nlines"
    assert variants == [(500, "100gms", 5), (600, "200gms", 4)]


@pytest.mark.parametrize("text, message", [
    ("", "The file is empty."),
    (HEADER, "The file has a header row but no product rows."),
    ("name,description,inventory\nA,b,1\n",
     "Missing columns: category_id, price_weights. The first row must name the columns name, "
     "description, category_id, inventory, price_weights."),
    (HEADER + 'A,5" screen,001,1,1-1kg\n',
     "The file is not valid CSV: misplaced quote on line 2."),
    (HEADER + 'A,"open,001,1,1-1kg\n',
     "The file is not valid CSV: a quoted value is not closed before the end of the file."),
    (b"\x00\x01\x02binary", "The file must be a CSV file (UTF-8 text) or an .xlsx workbook."),
])
def test_file_errors(srv, tmp_path, text, message):
    f = write(tmp_path, "bad.csv", text)
    before = count(srv, "products")
    r = srv.cli("import-products", f)
    assert r.returncode == 1, output(r)
    assert r.stdout == "", output(r)
    assert r.stderr.strip().splitlines()[-1].startswith(f"shopd: {f}: {message}"), output(r)
    assert count(srv, "products") == before


def test_usage_errors(srv, tmp_path):
    for args in ([], ["a.csv", "b.csv"], ["--force", "a.csv"]):
        r = srv.cli("import-products", *args)
        assert r.returncode == 2, output(r)
        assert "usage: shopd import-products FILE [--dry-run]" in r.stderr, output(r)
    r = srv.cli("import-products", tmp_path / "missing.csv")
    assert r.returncode == 1, output(r)
    assert "cannot read" in r.stderr and "No such file" in r.stderr, output(r)


def test_error_list_is_capped(srv, tmp_path):
    rows = "".join(f"Capped {unique_hex()},d,none,1,1-1kg\n" for _ in range(60))
    r = srv.cli("import-products", write(tmp_path, "many.csv", HEADER + rows))
    assert r.returncode == 1, output(r)
    assert r.stdout == "Imported 0 products (60 rows with errors)\n", output(r)
    lines = r.stderr.strip().splitlines()
    assert [l.split(":")[0] for l in lines[:50]] == [f"row {i}" for i in range(1, 51)], output(r)
    assert lines[50:] == ["... and 10 more"], output(r)


def test_stdin(srv, cat):
    public_id, _ = cat
    name = "Stdin " + unique_hex()
    r = subprocess.run([str(shopd_bin()), "import-products", "-"], env=srv.env, cwd=srv.tmp,
                       input=HEADER + f"{name},d,{public_id},2,1-1kg\n", capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, output(r)
    assert product(srv, name) is not None


# ---------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------

def run_on_terminal(server, *args, timeout=120):
    """Runs shopd with stderr on a pseudo-terminal; returns (exit code, stdout, stderr)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([str(shopd_bin()), *map(str, args)], env=server.env, cwd=server.tmp,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    finally:
        os.close(slave)
    err = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            err += chunk
        elif p.poll() is not None:
            break
    out = p.stdout.read().decode()
    p.wait(timeout=10)
    os.close(master)
    return p.returncode, out, err.decode("utf-8", "replace")


def test_progress_bar_on_terminal(srv, tmp_path, cat):
    public_id, _ = cat
    tag = unique_hex(6)
    rows = "".join(f"Progress {tag} {i:05d},d,{public_id},1,1-1kg\n" for i in range(2500))
    code, out, err = run_on_terminal(srv, "import-products", write(tmp_path, "p.csv", HEADER + rows))
    assert code == 0, (out, err)
    assert out == "Imported 2500 products (0 rows with errors)\n"
    frames = [f for f in err.replace("\r\n", "\n").split("\r") if "rows" in f]
    assert len(frames) >= 3, repr(err)
    assert re.search(r"\[#{30}\] 100% 2500/2500 rows", err), repr(err)
    assert re.search(r"\[[#.]{30}\]\s+\d+% \d+/2500 rows", frames[0]), repr(err)
    assert count(srv, "products", f"name LIKE 'Progress {tag} %'") == 2500


def test_no_progress_bar_when_not_a_terminal(srv, tmp_path, cat):
    public_id, _ = cat
    rows = "".join(f"Quiet {unique_hex()},d,{public_id},1,1-1kg\n" for _ in range(1200))
    r = srv.cli("import-products", write(tmp_path, "q.csv", HEADER + rows))
    assert r.returncode == 0, output(r)
    assert "\r" not in r.stderr and "rows" not in r.stderr, output(r)


# ---------------------------------------------------------------------------
# .xlsx
# ---------------------------------------------------------------------------

def test_xlsx(srv, tmp_path, cat):
    public_id, cid = cat
    num_id = str(800 + int(unique_hex(4), 16) % 100)  # an all-digit category_id
    num_cid = add_category(srv, num_id) if not srv.sql(
        f"SELECT 1 FROM categories WHERE category_id = '{num_id}'") else int(
        srv.sql(f"SELECT id FROM categories WHERE category_id = '{num_id}'")[0][0])
    a, b, c, bad = (f"{k} {unique_hex()}" for k in ("Sheet A", "Sheet B", "Sheet C", "Sheet Bad"))
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Products"
    ws.append(["name", "description", "category_id", "inventory", "price_weights"])
    ws.append([a, "shared string text", public_id, 100, "2000-100gms,3000-200gms"])
    ws.append([b, None, int(num_id), 7.0, "15-1kg"])       # numbers as Excel stores them
    ws.append([])                                            # an empty row still counts
    ws.append([c, "spills", public_id, 3, "1-1kg", "2-2kg", "3-3kg"])
    ws.append([bad, "x", public_id, 2.5, "1-1kg"])
    other = wb.create_sheet("Notes")                         # only the first sheet is read
    other.append(["name", "description", "category_id", "inventory", "price_weights"])
    other.append(["Never imported " + unique_hex(), "x", public_id, 1, "1-1kg"])
    f = tmp_path / "products.xlsx"
    wb.save(f)

    r = srv.cli("import-products", f)
    assert r.returncode == 1, output(r)
    assert r.stdout == "Imported 3 products (1 row with errors)\n", output(r)
    assert r.stderr.strip().splitlines() == ["row 5: inventory: Enter a whole number."], output(r)
    _, desc, pcid, variants = product(srv, a)
    assert (desc, pcid) == ("shared string text", cid)
    assert variants == [(200000, "100gms", 50), (300000, "200gms", 50)]
    _, desc, pcid, variants = product(srv, b)
    assert (desc, pcid, variants) == ("", num_cid, [(1500, "1kg", 7)])
    _, _, _, variants = product(srv, c)
    assert [w for _, w, _ in variants] == ["1kg", "2kg", "3kg"]
    assert count(srv, "products", "name LIKE 'Never imported %'") == 0


def test_xlsx_dry_run_and_file_errors(srv, tmp_path, cat):
    public_id, _ = cat
    name = "Xlsx dry " + unique_hex()
    wb = openpyxl.Workbook()
    wb.active.append(["Name", "Description", "Category_ID", "Inventory", "Price_Weights"])
    wb.active.append([name, "d", public_id, 1, "1-1kg"])
    f = tmp_path / "dry.xlsx"
    wb.save(f)
    r = srv.cli("import-products", "--dry-run", f)
    assert r.returncode == 0, output(r)
    assert r.stdout == "Validated 1 row: 1 valid, 0 with errors\n", output(r)
    assert product(srv, name) is None

    wb = openpyxl.Workbook()
    wb.active.append(["name", "description", "inventory"])
    wb.active.append(["x", "y", 1])
    f = tmp_path / "missing.xlsx"
    wb.save(f)
    r = srv.cli("import-products", f)
    assert r.returncode == 1, output(r)
    assert "Missing columns: category_id, price_weights." in r.stderr, output(r)

    # a renamed text file, and a truncated workbook
    r = srv.cli("import-products", write(tmp_path, "fake.xlsx", "PK\x03\x04 not a zip"))
    assert r.returncode == 1, output(r)
    assert "The .xlsx file is damaged" in r.stderr, output(r)
    data = (tmp_path / "dry.xlsx").read_bytes()
    r = srv.cli("import-products", write(tmp_path, "cut.xlsx", data[:len(data) // 2]))
    assert r.returncode == 1, output(r)
    assert "The .xlsx file is damaged" in r.stderr, output(r)


def test_xlsx_zip_bomb(srv, tmp_path):
    import zipfile
    f = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", "<worksheet><sheetData/></worksheet>")
        z.writestr("xl/media/big.bin", b"\0" * (51 * 1024 * 1024))
    assert f.stat().st_size < 1024 * 1024
    r = srv.cli("import-products", f)
    assert r.returncode == 1, output(r)
    assert "The .xlsx file is too large: its contents exceed 50 MB." in r.stderr, output(r)


# ---------------------------------------------------------------------------
# seed-demo
# ---------------------------------------------------------------------------

def media_files(server):
    return sorted(p.relative_to(server.media_dir).as_posix()
                  for p in server.media_dir.rglob("*") if p.is_file())


def test_seed_demo_is_idempotent(make_server):
    s = make_server()
    # from the source tree, as `make run` does: the images are found without --images
    r = run_cli(["seed-demo"], s.env, cwd=REPO_ROOT)
    assert r.returncode == 0, output(r)
    assert "Demo catalogue: 4 categories and 12 products added." in r.stdout, output(r)
    creds = dict(re.findall(r"Created demo (admin|customer): \S+  password: (\S+)", r.stdout))
    assert set(creds) == {"admin", "customer"}, output(r)

    assert count(s, "categories") == 4
    assert count(s, "products") == 12
    orders = s.sql("SELECT display_order FROM categories ORDER BY display_order")
    assert [int(o[0]) for o in orders] == [1, 2, 3, 4]
    per_product = s.sql("SELECT COUNT(*) FROM product_variants GROUP BY product_id")
    assert all(1 <= int(n[0]) <= 3 for n in per_product) and len(per_product) == 12
    assert count(s, "categories", "image IS NULL OR tags = '[]'") == 0
    assert count(s, "products", "image IS NULL OR tags = '[]' OR image_urls = '[]'") == 0
    files = media_files(s)
    assert len(files) == 16
    assert len([f for f in files if f.startswith("categories/")]) == 4

    # image_urls point at stored media that the server serves
    urls = s.sql("SELECT image_urls FROM products ORDER BY id")
    first = re.search(r'"(http[^"]+)"', urls[0][0]).group(1)
    assert first.startswith(s.base_url + "/media/products/")
    import requests
    img = requests.get(first, timeout=10)
    assert img.status_code == 200 and img.headers["Content-Type"] == "image/png"
    assert img.content.startswith(b"\x89PNG")

    # the printed credentials work, and the admin is an admin
    admin = s.api.login("admin@shopd.local", creds["admin"])
    assert admin.user["email"] == "admin@shopd.local"
    assert s.sql("SELECT is_staff, email_verified FROM users WHERE email = 'admin@shopd.local'")[0] \
        in {("1", "1"), ("t", "t")}
    s.api.login("customer@shopd.local", creds["customer"])

    # the second run adds nothing: no category, product, image or user
    users = count(s, "users")
    r = s.cli("seed-demo", "--images", DEMO_IMAGES)
    assert r.returncode == 0, output(r)
    assert "nothing added" in r.stdout and "password" not in r.stdout, output(r)
    assert count(s, "categories") == 4
    assert count(s, "products") == 12
    assert count(s, "users") == users
    assert media_files(s) == files


def test_seed_demo_keeps_existing_data(make_server, tmp_path):
    """Display orders already taken are left to their owners; a demo product that exists
    elsewhere is not made twice; a missing images directory is a clear error."""
    s = make_server()
    now = int(time.time())
    s.sql("INSERT INTO categories (category_id, name, slug, display_order, created_at, updated_at) "
          f"VALUES ('900', 'Mine', 'mine', 2, {now}, {now})")
    mine = int(s.sql("SELECT id FROM categories WHERE category_id = '900'")[0][0])
    f = write(tmp_path, "p.csv", HEADER + "Smoked paprika,mine,900,1,1-1kg\n")
    assert s.cli("import-products", f).returncode == 0

    r = s.cli("seed-demo", "--images", tmp_path / "no-such-dir")
    assert r.returncode == 1, output(r)
    assert "cannot read the images directory" in r.stderr, output(r)

    r = s.cli("seed-demo", "--images", DEMO_IMAGES)
    assert r.returncode == 0, output(r)
    assert "4 categories and 11 products added" in r.stdout, output(r)
    assert s.sql("SELECT display_order FROM categories WHERE id = " + str(mine))[0][0] == "2"
    assert count(s, "categories", "display_order IS NULL") == 1  # the demo category of slot 2
    assert count(s, "products", "lower(name) = 'smoked paprika'") == 1
    assert len(media_files(s)) == 15  # no image kept for the product that was not made

    r = s.cli("seed-demo")
    assert r.returncode == 0, output(r)
    assert "nothing added" in r.stdout, output(r)
