"""/api/categories/ and /api/products/: the catalogue of seed document 002 (surface `shop`).

Walks every documented request and error of the categories, products CRUD and bulk-upload
sections, public and admin: display orders (1-8, the two documented messages, the ordered
list and the available orders), category images uploaded as multipart (a real PNG and JPEG,
served back from /media/ with their type; a renamed text file refused), products with
price_weights in the array and the compact form, the top-level inventory spread over the
variants, pagination, inactive products hidden from the public, bulk upload of CSV and .xlsx
files (good rows, bad rows, a malformed file, dry runs that write nothing), and a product
created through /api/v1/ seen here.

Most tests share one server of this module (unique names); tests that need to know the
whole catalogue (display orders, counts) start a fresh one.
"""

import csv
import io
import re
import struct
import zlib

import pytest

from shopdtest import Api, Server, expect, http, strong_password, unique_email, unique_hex

CATEGORIES = "/api/categories/"
ORDERED = "/api/categories/ordered/"
AVAILABLE = "/api/categories/available-orders/"
PRODUCTS = "/api/products/"
BULK = "/api/products/bulk-upload/"

NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}
PERMISSIONS = {"error": "Permissions required"}
CATEGORY_NOT_FOUND = {"error": "Invalid category ID or insufficient permissions"}
PRODUCT_NOT_VISIBLE = {"error": "Product not found or inactive."}
PRODUCT_NOT_FOUND = {"error": "Product not found."}
PRODUCT_INVALID = "Product with this name already exists or missing required fields"
UPDATED = {"message": "Product updated successfully."}
ORDER_RANGE = {"display_order": ["Display order must be between 1 and 8."]}
ORDER_TAKEN = {"display_order": ["A category with this display order already exists."]}
REQUIRED = ["This field is required."]
BAD_IMAGE = ["Upload a valid image. The file you uploaded was either not an image or a "
             "corrupted image."]
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
CATEGORY_KEYS = {"id", "category_id", "name", "description", "tags", "image", "display_order",
                 "available_display_orders"}
PRODUCT_KEYS = {"id", "name", "description", "category", "inventory", "price_weights", "tags",
                "image_urls", "is_active", "created_at", "updated_at"}


# ---------------------------------------------------------------------------
# Images made here
# ---------------------------------------------------------------------------

def png_bytes(width=2, height=2):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\x10\x80\xf0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# A 1x1 grey baseline JPEG: SOI, DQT, SOF0, one-code DC and AC Huffman tables, SOS with one
# block (DC difference 0, then end-of-block), EOI.
JPEG_1X1 = (
    b"\xff\xd8"
    + b"\xff\xdb\x00\x43\x00" + b"\x01" * 64
    + b"\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00"
    + b"\xff\xc4\x00\x14\x00" + b"\x01" + b"\x00" * 15 + b"\x00"
    + b"\xff\xc4\x00\x14\x10" + b"\x01" + b"\x00" * 15 + b"\x00"
    + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    + b"\x3f"
    + b"\xff\xd9")


# ---------------------------------------------------------------------------
# Servers and people
# ---------------------------------------------------------------------------

class Shop:
    """A server with an admin and a customer, and the calls the tests repeat."""

    def __init__(self, server):
        self.server = server
        self.api = Api(server)
        email, password = unique_email("admin"), strong_password()
        r = server.cli("createsuperuser", "--username", "admin_" + unique_hex(8), "--email",
                       email, "--password", password)
        assert r.returncode == 0, r.stderr
        self.admin = {"Authorization": "Bearer " + self.api.login(email, password).access}
        self.customer = {"Authorization": "Bearer " + self.api.new_user().access}

    def url(self, path):
        return self.server.url(path)

    def category(self, **fields):
        body = {"name": "Cat " + unique_hex(8), "description": "things"}
        body.update(fields)
        return expect(self.api.post(CATEGORIES, json=body, headers=self.admin), 201)

    def product(self, category, **fields):
        body = {"name": "Prod " + unique_hex(8), "description": "a product",
                "price_weights": [{"price": "10.00", "weight": "1kg", "inventory": 5}]}
        if category is not None:
            body["category"] = category["id"]
        body.update(fields)
        return expect(self.api.post(PRODUCTS, json=body, headers=self.admin), 201)

    def detail(self, pid, headers=None):
        return self.api.get(f"{PRODUCTS}{pid}/", headers=headers)

    def upload(self, content, filename="products.csv", query="", headers=None,
               content_type="text/csv"):
        return self.api.post(BULK + query, files={"file": (filename, content, content_type)},
                             headers=self.admin if headers is None else headers)


@pytest.fixture(scope="module")
def shop():
    s = Server(name="shop-catalog")
    try:
        s.start()
        yield Shop(s)
    finally:
        s.stop()


@pytest.fixture
def fresh(make_server):
    """A shop on a server of its own: an empty catalogue."""
    return Shop(make_server())


def category_path(cid):
    return f"{CATEGORIES}{cid}/"


# ---------------------------------------------------------------------------
# Categories: listing, display orders, validation
# ---------------------------------------------------------------------------

def test_empty_catalogue(fresh):
    assert expect(fresh.api.get(CATEGORIES), 200) == []
    assert expect(fresh.api.get(ORDERED), 200) == []
    assert expect(fresh.api.get(AVAILABLE), 200) == {
        "available_orders": [1, 2, 3, 4, 5, 6, 7, 8], "total_slots": 8, "used_slots": 0}
    assert expect(fresh.api.get(PRODUCTS), 200) == {
        "count": 0, "next": None, "previous": None, "results": []}


def test_display_orders_walk(fresh):
    api, admin = fresh.api, fresh.admin
    c1 = expect(api.post(CATEGORIES, json={
        "category_id": "001", "name": "Electronics", "description": "Gadgets and more",
        "tags": ["Smartphone", "Laptop", "Tablet"], "display_order": 1}, headers=admin), 201)
    assert set(c1) == CATEGORY_KEYS and isinstance(c1["id"], int)
    assert {k: v for k, v in c1.items() if k != "id"} == {
        "category_id": "001", "name": "Electronics", "description": "Gadgets and more",
        "tags": ["Smartphone", "Laptop", "Tablet"], "image": None, "display_order": 1,
        "available_display_orders": [2, 3, 4, 5, 6, 7, 8]}
    c2 = expect(api.post(CATEGORIES, json={
        "category_id": "002", "name": "Books", "description": "Read more",
        "tags": ["Fiction", "Non-Fiction"], "display_order": 2}, headers=admin), 201)
    assert c2["display_order"] == 2 and c2["available_display_orders"] == [3, 4, 5, 6, 7, 8]
    # Without display_order: outside the order, listed after the ordered ones by name.
    for cid, name in (("003", "Zebra goods"), ("004", "Apples")):
        c = expect(api.post(CATEGORIES, json={"category_id": cid, "name": name},
                            headers=admin), 201)
        assert c["display_order"] is None and c["description"] == "" and c["tags"] == []

    listed = expect(api.get(CATEGORIES), 200)
    assert [c["category_id"] for c in listed] == ["001", "002", "004", "003"]
    # available_display_orders is the same for every category of one answer.
    assert all(c["available_display_orders"] == [3, 4, 5, 6, 7, 8] for c in listed)
    assert listed[0] == {**c1, "available_display_orders": [3, 4, 5, 6, 7, 8]}
    assert [c["category_id"] for c in expect(api.get(ORDERED), 200)] == ["001", "002"]
    assert expect(api.get(AVAILABLE), 200) == {
        "available_orders": [3, 4, 5, 6, 7, 8], "total_slots": 8, "used_slots": 2}

    # The two documented messages, on create and on update.
    assert expect(api.post(CATEGORIES, json={"name": "Dup", "display_order": 2},
                           headers=admin), 400) == ORDER_TAKEN
    for bad in (0, 9, -1, 100000000000):
        assert expect(api.post(CATEGORIES, json={"name": "Range", "display_order": bad},
                               headers=admin), 400) == ORDER_RANGE
    assert expect(api.post(CATEGORIES, json={"name": "NaN", "display_order": "abc"},
                           headers=admin), 400) == {
        "display_order": ["A valid integer is required."]}
    assert expect(api.patch(category_path("003"), json={"display_order": 1}, headers=admin),
                  400) == ORDER_TAKEN
    assert expect(api.put(category_path("003"), json={"name": "Zebra goods",
                                                      "display_order": 12},
                          headers=admin), 400) == ORDER_RANGE

    # Moving a category frees its old slot.
    moved = expect(api.patch(category_path("002"), json={"display_order": 5}, headers=admin),
                   200)
    assert moved["display_order"] == 5
    assert moved["available_display_orders"] == [2, 3, 4, 6, 7, 8]
    assert [c["category_id"] for c in expect(api.get(ORDERED), 200)] == ["001", "002"]
    # A form field carries the number as text.
    c3 = expect(api.patch(category_path("003"), files={"display_order": (None, "2")},
                          headers=admin), 200)
    assert c3["display_order"] == 2
    assert [c["category_id"] for c in expect(api.get(ORDERED), 200)] == ["001", "003", "002"]
    # null takes a category out of the order.
    out = expect(api.patch(category_path("002"), json={"display_order": None}, headers=admin),
                 200)
    assert out["display_order"] is None and out["available_display_orders"] == [3, 4, 5, 6, 7, 8]
    assert expect(api.get(AVAILABLE), 200)["used_slots"] == 2

    # Filling all eight slots.
    for n in range(3, 9):
        expect(api.post(CATEGORIES, json={"name": f"Slot {n}", "display_order": n},
                        headers=admin), 201)
    assert expect(api.get(AVAILABLE), 200) == {
        "available_orders": [], "total_slots": 8, "used_slots": 8}
    ordered = expect(api.get(ORDERED), 200)
    assert [c["display_order"] for c in ordered] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all(c["available_display_orders"] == [] for c in ordered)
    # Deleting one frees its slot.
    slot5 = next(c for c in ordered if c["display_order"] == 5)
    r = api.delete(category_path(slot5["category_id"]), headers=admin)
    assert r.status_code == 204 and r.content == b""
    assert expect(api.get(AVAILABLE), 200)["available_orders"] == [5]


def test_category_validation(shop):
    api, admin = shop.api, shop.admin
    name = "Unique " + unique_hex(8)
    cid = "cid-" + unique_hex(6)
    shop.category(name=name, category_id=cid)
    assert expect(api.post(CATEGORIES, json={"description": "no name"}, headers=admin),
                  400) == {"name": REQUIRED}
    assert expect(api.post(CATEGORIES, json={"name": "   "}, headers=admin), 400) == {
        "name": ["This field may not be blank."]}
    # Names are unique without regard to case.
    assert expect(api.post(CATEGORIES, json={"name": name.upper()}, headers=admin), 400) == {
        "name": ["category with this name already exists."]}
    assert expect(api.post(CATEGORIES, json={"name": "Other " + unique_hex(8),
                                             "category_id": cid}, headers=admin), 400) == {
        "category_id": ["category with this category id already exists."]}
    assert expect(api.post(CATEGORIES, json={"name": "T " + unique_hex(8), "tags": 5},
                           headers=admin), 400) == {
        "tags": ['Expected a list of items but got type "int".']}
    assert expect(api.post(CATEGORIES, json={"name": "N " + unique_hex(8), "tags": ["a\u0000"]},
                           headers=admin), 400) == {
        "tags": ["Item 1: Null characters are not allowed."]}
    assert expect(api.post(CATEGORIES, json={"name": "I " + unique_hex(8), "image": 5},
                           headers=admin), 400) == {
        "image": ["The submitted data was not a file. Check the encoding type on the form."]}
    # Every problem at once.
    body = expect(api.post(CATEGORIES, json={"tags": "[1,", "display_order": 9},
                           headers=admin), 400)
    assert set(body) == {"name", "tags", "display_order"}
    # Without category_id one is given; it is a string and names the category.
    c = shop.category()
    assert isinstance(c["category_id"], str) and c["category_id"]
    assert expect(api.get(category_path(c["category_id"])), 200)["id"] == c["id"]


def test_category_tags_as_list_json_string_or_commas(shop):
    api, admin = shop.api, shop.admin
    c = shop.category(tags=["Fiction", "Non-Fiction"])
    assert c["tags"] == ["Fiction", "Non-Fiction"]
    form = expect(api.post(CATEGORIES, files={
        "name": (None, "Form " + unique_hex(8)), "tags": (None, '["a b", "c"]')},
        headers=admin), 201)
    assert form["tags"] == ["a b", "c"]
    commas = expect(api.post(CATEGORIES, files={
        "name": (None, "Commas " + unique_hex(8)), "tags": (None, " x, y ,,z ")},
        headers=admin), 201)
    assert commas["tags"] == ["x", "y", "z"]
    # x-www-form-urlencoded works the same way.
    urlenc = expect(api.post(CATEGORIES, data={"name": "Url " + unique_hex(8), "tags": "p,q"},
                             headers=admin), 201)
    assert urlenc["tags"] == ["p", "q"]
    patched = expect(api.patch(category_path(c["category_id"]), json={"tags": []},
                               headers=admin), 200)
    assert patched["tags"] == []


def test_category_detail_put_patch_delete(shop):
    api, admin = shop.api, shop.admin
    c = shop.category(tags=["Smartphone"], description="Gadgets")
    path = category_path(c["category_id"])
    got = expect(api.get(path), 200)
    assert set(got) == CATEGORY_KEYS
    assert {k: got[k] for k in ("id", "category_id", "name", "description", "tags", "image",
                                "display_order")} == {
        k: c[k] for k in ("id", "category_id", "name", "description", "tags", "image",
                          "display_order")}
    new_name = "Updated " + unique_hex(8)
    put = expect(api.put(path, json={"name": new_name, "description": "Updated description",
                                     "tags": ["Updated", "Tags"]}, headers=admin), 200)
    assert set(put) == CATEGORY_KEYS
    assert (put["name"], put["description"], put["tags"]) == (
        new_name, "Updated description", ["Updated", "Tags"])
    # PUT names the category in full: name is required.
    assert expect(api.put(path, json={"description": "x"}, headers=admin), 400) == {
        "name": REQUIRED}
    # PATCH changes only what it names.
    patched = expect(api.patch(path, json={"description": "Patched"}, headers=admin), 200)
    assert (patched["name"], patched["description"], patched["tags"]) == (
        new_name, "Patched", ["Updated", "Tags"])
    assert expect(api.get(path), 200)["description"] == "Patched"

    r = api.delete(path, headers=admin)
    assert r.status_code == 204 and r.content == b""
    assert expect(api.get(path), 404) == CATEGORY_NOT_FOUND
    for method in ("put", "patch", "delete"):
        assert expect(getattr(api, method)(path, json={"name": "x"}, headers=admin),
                      404) == CATEGORY_NOT_FOUND
    assert expect(api.get(category_path("no-such-" + unique_hex(6))), 404) == CATEGORY_NOT_FOUND


def test_category_writes_need_an_admin(shop):
    api = shop.api
    c = shop.category()
    path = category_path(c["category_id"])
    body = {"name": "Hijack " + unique_hex(8)}
    assert expect(api.post(CATEGORIES, json=body), 401) == NOT_PROVIDED
    for method in ("put", "patch", "delete"):
        assert expect(getattr(api, method)(path, json=body), 401) == NOT_PROVIDED
        assert expect(getattr(api, method)(path, json=body, headers=shop.customer),
                      403) == PERMISSIONS
    assert expect(api.post(CATEGORIES, json=body, headers=shop.customer), 403) == PERMISSIONS
    # A non-admin learns nothing about ids either: 403 before the lookup.
    assert expect(api.delete(category_path("no-such-" + unique_hex(6)), headers=shop.customer),
                  403) == PERMISSIONS
    # Nothing changed; reading stays public, with or without a token.
    assert expect(api.get(path), 200)["name"] == c["name"]
    assert expect(api.get(path, headers=shop.customer), 200)["name"] == c["name"]
    names = [x["name"] for x in expect(api.get(CATEGORIES, headers=shop.customer), 200)]
    assert c["name"] in names and body["name"] not in names


def test_category_with_products_is_not_deleted(shop):
    api, admin = shop.api, shop.admin
    c = shop.category()
    p = shop.product(c)
    body = expect(api.delete(category_path(c["category_id"]), headers=admin), 400)
    assert set(body) == {"error"}
    assert body["error"].startswith("Cannot delete a category that still has")
    assert expect(api.get(category_path(c["category_id"])), 200)["id"] == c["id"]
    assert expect(shop.detail(p["id"]), 200)["category"] == {"id": c["id"], "name": c["name"]}
    assert api.delete(f"{PRODUCTS}{p['id']}/", headers=admin).status_code == 204
    assert api.delete(category_path(c["category_id"]), headers=admin).status_code == 204


# ---------------------------------------------------------------------------
# Category images
# ---------------------------------------------------------------------------

def media_re(shop, ext):
    return re.compile(re.escape(shop.server.base_url) + r"/media/categories/[0-9a-f]{32}\." + ext
                      + "$")


def test_category_image_upload_replace_and_remove(shop):
    api, admin = shop.api, shop.admin
    png = png_bytes(3, 2)
    name = "Pictured " + unique_hex(8)
    c = expect(api.post(CATEGORIES, files={
        "name": (None, name), "description": (None, "with a picture"),
        "tags": (None, '["Fiction"]'), "image": ("cover.png", png, "image/png")},
        headers=admin), 201)
    assert (c["name"], c["description"], c["tags"]) == (name, "with a picture", ["Fiction"])
    assert media_re(shop, "png").match(c["image"]), c["image"]
    r = http("GET", c["image"])
    assert r.status_code == 200 and r.headers["Content-Type"].split(";")[0] == "image/png"
    assert r.content == png
    path = category_path(c["category_id"])
    assert expect(api.get(path), 200)["image"] == c["image"]

    # A JPEG named .png replaces it: the content decides the type.
    j = expect(api.patch(path, files={"image": ("photo.png", JPEG_1X1, "image/png")},
                         headers=admin), 200)
    assert media_re(shop, "jpg").match(j["image"]), j["image"]
    r = http("GET", j["image"])
    assert r.status_code == 200 and r.headers["Content-Type"].split(";")[0] == "image/jpeg"
    assert r.content == JPEG_1X1
    assert http("GET", c["image"]).status_code == 404  # the replaced file is gone
    assert j["name"] == name and j["tags"] == ["Fiction"]

    # Sending back the URL it read keeps the image.
    kept = expect(api.put(path, json={"name": name, "image": j["image"]}, headers=admin), 200)
    assert kept["image"] == j["image"]
    # Deleting the category removes its file.
    assert api.delete(path, headers=admin).status_code == 204
    assert http("GET", j["image"]).status_code == 404


def test_category_image_removed_with_null(shop):
    api, admin = shop.api, shop.admin
    c = expect(api.post(CATEGORIES, files={
        "name": (None, "Unpictured " + unique_hex(8)),
        "image": ("cover.png", png_bytes(), "image/png")}, headers=admin), 201)
    assert http("GET", c["image"]).status_code == 200
    gone = expect(api.patch(category_path(c["category_id"]), json={"image": None},
                            headers=admin), 200)
    assert gone["image"] is None
    assert expect(api.get(category_path(c["category_id"])), 200)["image"] is None
    assert http("GET", c["image"]).status_code == 404


def test_category_image_refuses_a_renamed_text_file(shop):
    api, admin = shop.api, shop.admin
    before = set((shop.server.media_dir / "categories").glob("*"))
    cid = "txt-" + unique_hex(6)
    body = expect(api.post(CATEGORIES, files={
        "category_id": (None, cid), "name": (None, "Text " + unique_hex(8)),
        "image": ("evil.png", b"just some text, not a picture\n", "image/png")},
        headers=admin), 400)
    assert body == {"image": BAD_IMAGE}
    assert expect(api.get(category_path(cid)), 404) == CATEGORY_NOT_FOUND
    # On an existing category: refused, the category untouched.
    c = shop.category()
    assert expect(api.patch(category_path(c["category_id"]),
                            files={"image": ("x.jpg", b"GIF89a not really", "image/jpeg")},
                            headers=admin), 400) == {"image": BAD_IMAGE}
    assert expect(api.get(category_path(c["category_id"])), 200)["image"] is None
    assert set((shop.server.media_dir / "categories").glob("*")) == before


def test_category_image_file_of_a_refused_category_is_not_kept(shop):
    api, admin = shop.api, shop.admin
    taken = shop.category()
    before = set((shop.server.media_dir / "categories").glob("*"))
    body = expect(api.post(CATEGORIES, files={
        "name": (None, taken["name"]), "image": ("a.png", png_bytes(), "image/png")},
        headers=admin), 400)
    assert body == {"name": ["category with this name already exists."]}
    assert set((shop.server.media_dir / "categories").glob("*")) == before


# ---------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------

def test_product_create_as_documented(shop):
    api, admin = shop.api, shop.admin
    cat = shop.category(name="Computing " + unique_hex(6))
    name = "Laptop " + unique_hex(8)
    p = expect(api.post(PRODUCTS, json={
        "name": name, "description": "High performance laptop", "category": cat["id"],
        "tags": ["Computing", "High-End"],
        "price_weights": [
            {"price": "50000.00", "weight": "1kg", "inventory": 50},
            {"price": "75000.00", "weight": "1.5kg", "inventory": 50},
            {"price": "100000.00", "weight": "2kg", "inventory": 50}],
        "image_urls": ["http://example.com/image2.jpg"],
        "is_active": True}, headers=admin), 201)
    assert set(p) == PRODUCT_KEYS
    ids = [v["id"] for v in p["price_weights"]]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 3
    assert ISO_RE.match(p["created_at"]) and ISO_RE.match(p["updated_at"])
    assert {k: v for k, v in p.items() if k not in ("id", "created_at", "updated_at")} == {
        "name": name, "description": "High performance laptop",
        "category": {"id": cat["id"], "name": cat["name"]},
        "inventory": 150,
        "price_weights": [
            {"id": ids[0], "price": "50000.00", "weight": "1kg", "inventory": 50,
             "status": "In stock"},
            {"id": ids[1], "price": "75000.00", "weight": "1.5kg", "inventory": 50,
             "status": "In stock"},
            {"id": ids[2], "price": "100000.00", "weight": "2kg", "inventory": 50,
             "status": "In stock"}],
        "tags": ["Computing", "High-End"],
        "image_urls": ["http://example.com/image2.jpg"],
        "is_active": True}
    # The detail and the list show the same object (price_weights as an array).
    assert expect(shop.detail(p["id"]), 200) == p
    page = expect(api.get(PRODUCTS, params={"page_size": 100}), 200)
    assert p in page["results"]


def test_product_variant_forms_and_inventory(shop):
    cat = shop.category(category_id="pw-" + unique_hex(6))
    # The compact string; inventory spread over the variants, the remainder to the first.
    p = shop.product(cat, price_weights="2000-100gms, 3000-200gms", inventory=101)
    assert [(v["price"], v["weight"], v["inventory"], v["status"])
            for v in p["price_weights"]] == [
        ("2000.00", "100gms", 51, "In stock"), ("3000.00", "200gms", 50, "In stock")]
    assert p["inventory"] == 101
    # No counts at all: out of stock.
    p = shop.product(cat, price_weights="2000-100gms")
    assert p["inventory"] == 0
    assert p["price_weights"][0]["status"] == "Out of stock"
    # Numbers are fine as prices; a variant without a weight has "".
    p = shop.product(cat, price_weights=[{"price": 12.5, "inventory": 0},
                                         {"price": 7, "weight": "2kg", "inventory": 3}])
    assert [(v["price"], v["weight"], v["status"]) for v in p["price_weights"]] == [
        ("12.50", "", "Out of stock"), ("7.00", "2kg", "In stock")]
    assert p["inventory"] == 3
    # category_id: a number is the category's id, a string its public category_id.
    by_pk = shop.product(None, category_id=cat["id"])
    by_public = shop.product(None, category_id=cat["category_id"])
    for q in (by_pk, by_public):
        assert q["category"] == {"id": cat["id"], "name": cat["name"]}
    # tags and image_urls default to empty lists, is_active to true.
    assert (p["tags"], p["image_urls"], p["is_active"]) == ([], [], True)


def without(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}


def test_product_create_errors(shop):
    api, admin = shop.api, shop.admin
    cat = shop.category()
    existing = shop.product(cat)
    before = len(shop.server.sql("SELECT id FROM products"))

    def invalid(body):
        b = expect(api.post(PRODUCTS, json=body, headers=admin), 400)
        assert set(b) == {"error", "details"} and b["error"] == PRODUCT_INVALID, b
        return b["details"]

    assert invalid({}) == {"name": REQUIRED, "category": REQUIRED, "price_weights": REQUIRED}
    good = {"name": "New " + unique_hex(8), "category": cat["id"],
            "price_weights": [{"price": "1.00", "weight": "1kg", "inventory": 1}]}
    assert invalid({**good, "name": existing["name"].upper()}) == {
        "name": ["product with this name already exists."]}
    assert invalid({**good, "category": 987654321}) == {
        "category": ['Invalid pk "987654321" - object does not exist.']}
    assert invalid({**good, "price_weights": []}) == {
        "price_weights": ["At least one price-weight is required."]}
    assert invalid({**good, "price_weights": "abc"}) == {
        "price_weights": ['Invalid price-weight pair "abc". Use price-weight, e.g. 2000-100gms.']}
    assert invalid({**good, "price_weights": [{"price": "-1.00", "weight": "1kg"}]}) == {
        "price_weights": ["Ensure price is greater than or equal to 0."]}
    assert invalid({**good, "price_weights": [{"price": "1.00", "inventory": -3}]}) == {
        "price_weights": ["Ensure inventory is greater than or equal to 0."]}
    d = invalid({**good, "price_weights": [{"price": "1.001"}, {"weight": "1kg"},
                                           {"price": "x", "inventory": "many"}, 7]})
    assert list(d) == ["price_weights"] and len(d["price_weights"]) == 5
    assert d["price_weights"][1].startswith("Item 2: price:")
    assert d["price_weights"][4].startswith("Item 4:")
    assert invalid({**good, "price_weights": 12}) != {}
    assert invalid({**good, "is_active": "maybe"}) == {"is_active": ["Must be a valid boolean."]}
    assert invalid({**good, "tags": "[oops"}) == {"tags": ["Value must be valid JSON."]}
    assert invalid({**good, "category": "abc"}) == {
        "category": ["Incorrect type. Expected pk value, received str."]}
    assert invalid({**good, "category": None}) == {"category": ["This field may not be null."]}
    missing = "no-such-" + unique_hex(4)
    assert invalid({**without(good, "category"), "category_id": missing}) == {
        "category_id": [f'Category "{missing}" does not exist.']}
    assert invalid({**good, "price_weights": "1-1kg\u0000,2-2kg"}) == {
        "price_weights": ["Null characters are not allowed."]}
    assert invalid({**good, "inventory": -1, "price_weights": "1-1kg"}) == {
        "inventory": ["Ensure this value is greater than or equal to 0."]}
    # Nothing was written by any of them.
    assert len(shop.server.sql("SELECT id FROM products")) == before


def test_product_writes_need_an_admin(shop):
    api = shop.api
    cat = shop.category()
    p = shop.product(cat)
    path = f"{PRODUCTS}{p['id']}/"
    body = {"name": "Hijack " + unique_hex(8), "category": cat["id"],
            "price_weights": "1-1kg"}
    assert expect(api.post(PRODUCTS, json=body), 401) == NOT_PROVIDED
    assert expect(api.post(PRODUCTS, json=body, headers=shop.customer), 403) == PERMISSIONS
    for method in ("put", "patch", "delete"):
        assert expect(getattr(api, method)(path, json=body), 401) == NOT_PROVIDED
        assert expect(getattr(api, method)(path, json=body, headers=shop.customer),
                      403) == PERMISSIONS
    assert expect(shop.detail(p["id"]), 200) == p
    assert expect(shop.detail(p["id"], headers=shop.customer), 200) == p


def test_product_update_put_and_patch(shop):
    api, admin = shop.api, shop.admin
    cat = shop.category()
    other = shop.category()
    p = shop.product(cat, price_weights=[
        {"price": "2000.00", "weight": "100gms", "inventory": 30},
        {"price": "3000.00", "weight": "200gms", "inventory": 40},
        {"price": "4000.00", "weight": "300gms", "inventory": 30}], tags=["Electronics"])
    path = f"{PRODUCTS}{p['id']}/"
    ids = [v["id"] for v in p["price_weights"]]
    new_name = "Updated Product Name " + unique_hex(6)
    # The document's PUT body: category_id, a top-level inventory, the compact string.
    assert expect(api.put(path, json={
        "name": new_name, "description": "Updated Description", "category_id": other["id"],
        "inventory": 150, "price_weights": "2500-100gms,3500-200gms",
        "tags": ["Updated", "Tags"], "image_urls": ["http://example.com/updated_image.jpg"],
        "is_active": False}, headers=admin), 200) == UPDATED
    # Inactive now: hidden from the public, shown to admins.
    assert expect(shop.detail(p["id"]), 404) == PRODUCT_NOT_VISIBLE
    assert expect(shop.detail(p["id"], headers=shop.customer), 404) == PRODUCT_NOT_VISIBLE
    got = expect(shop.detail(p["id"], headers=admin), 200)
    assert without(got, "created_at", "updated_at") == {
        "id": p["id"], "name": new_name, "description": "Updated Description",
        "category": {"id": other["id"], "name": other["name"]}, "inventory": 150,
        "price_weights": [
            {"id": ids[0], "price": "2500.00", "weight": "100gms", "inventory": 75,
             "status": "In stock"},
            {"id": ids[1], "price": "3500.00", "weight": "200gms", "inventory": 75,
             "status": "In stock"}],
        "tags": ["Updated", "Tags"], "image_urls": ["http://example.com/updated_image.jpg"],
        "is_active": False}
    assert got["created_at"] == p["created_at"]

    # PATCH: only what it names. A bare inventory is spread over the stored variants.
    assert expect(api.patch(path, json={"inventory": 11}, headers=admin), 200) == UPDATED
    got = expect(shop.detail(p["id"], headers=admin), 200)
    assert [(v["id"], v["price"], v["inventory"]) for v in got["price_weights"]] == [
        (ids[0], "2500.00", 6), (ids[1], "3500.00", 5)]
    assert got["inventory"] == 11 and got["name"] == new_name
    assert expect(api.patch(path, json={"is_active": True}, headers=admin), 200) == UPDATED
    shown = expect(shop.detail(p["id"]), 200)
    assert shown["is_active"] is True and shown["tags"] == ["Updated", "Tags"]
    # Variants with their own counts: the array decides, a top-level inventory is ignored.
    assert expect(api.patch(path, json={"inventory": 999, "price_weights": [
        {"price": "1.00", "weight": "a", "inventory": 1}]}, headers=admin), 200) == UPDATED
    got = expect(shop.detail(p["id"]), 200)
    assert got["inventory"] == 1
    assert [(v["id"], v["weight"]) for v in got["price_weights"]] == [(ids[0], "a")]

    # Errors.
    taken = shop.product(cat)
    b = expect(api.patch(path, json={"name": taken["name"]}, headers=admin), 400)
    assert b == {"error": PRODUCT_INVALID,
                 "details": {"name": ["product with this name already exists."]}}
    b = expect(api.put(path, json={"description": "only this"}, headers=admin), 400)
    assert b["error"] == PRODUCT_INVALID
    assert set(b["details"]) == {"name", "category", "price_weights"}
    b = expect(api.patch(path, json={"price_weights": "12"}, headers=admin), 400)
    assert list(b["details"]) == ["price_weights"]
    assert expect(shop.detail(p["id"]), 200) == got  # nothing changed
    for method in ("put", "patch"):
        assert expect(getattr(api, method)(f"{PRODUCTS}987654321/", json={"name": "x"},
                                           headers=admin), 404) == PRODUCT_NOT_FOUND


def test_product_delete(shop):
    api, admin = shop.api, shop.admin
    p = shop.product(shop.category())
    path = f"{PRODUCTS}{p['id']}/"
    r = api.delete(path, headers=admin)
    assert r.status_code == 204 and r.content == b""
    assert expect(shop.detail(p["id"]), 404) == PRODUCT_NOT_VISIBLE
    assert expect(shop.detail(p["id"], headers=admin), 404) == PRODUCT_NOT_VISIBLE
    assert expect(api.delete(path, headers=admin), 404) == PRODUCT_NOT_FOUND


def test_product_detail_unknown(shop):
    assert expect(shop.detail(987654321), 404) == PRODUCT_NOT_VISIBLE
    assert shop.api.get(f"{PRODUCTS}abc/").status_code == 404


def test_product_list_pagination_and_inactive(fresh):
    api, admin = fresh.api, fresh.admin
    cat = fresh.category()
    made = [fresh.product(cat, name=f"Item {i:02d}") for i in range(25)]
    base = fresh.url(PRODUCTS)
    page1 = expect(api.get(PRODUCTS), 200)
    assert page1["count"] == 25 and page1["previous"] is None
    assert page1["next"] == base + "?page=2"
    # Newest first.
    assert [p["id"] for p in page1["results"]] == [p["id"] for p in reversed(made)][:20]
    assert page1["results"][0] == made[-1]
    page2 = expect(api.get(PRODUCTS, params={"page": 2}), 200)
    assert len(page2["results"]) == 5 and page2["next"] is None
    assert page2["previous"] == base
    page3 = expect(api.get(PRODUCTS, params={"page_size": 10, "page": 2}), 200)
    assert [p["id"] for p in page3["results"]] == [p["id"] for p in reversed(made)][10:20]
    assert page3["next"] == base + "?page_size=10&page=3"
    assert page3["previous"] == base + "?page_size=10"
    assert len(expect(api.get(PRODUCTS, params={"page_size": 1000}), 200)["results"]) == 25
    last = expect(api.get(PRODUCTS, params={"page": "last"}), 200)
    assert [p["id"] for p in last["results"]] == [p["id"] for p in reversed(made)][20:]
    for bad in ("3", "0", "x"):
        assert expect(api.get(PRODUCTS, params={"page": bad}), 404) == {"error": "Invalid page."}

    # A deactivated product leaves the public list; admins may ask for it.
    hidden = made[3]
    assert expect(api.patch(f"{PRODUCTS}{hidden['id']}/", json={"is_active": False},
                            headers=admin), 200) == UPDATED
    for headers in (None, fresh.customer, admin):
        ids = [p["id"] for p in expect(api.get(PRODUCTS, params={"page_size": 100},
                                               headers=headers), 200)["results"]]
        assert hidden["id"] not in ids and len(ids) == 24
    assert expect(api.get(PRODUCTS, params={"include_inactive": 1}, headers=fresh.customer),
                  200)["count"] == 24
    everything = expect(api.get(PRODUCTS, params={"include_inactive": 1, "page_size": 100},
                                headers=admin), 200)
    assert everything["count"] == 25
    shown = next(p for p in everything["results"] if p["id"] == hidden["id"])
    assert shown["is_active"] is False


def test_product_created_through_v1_is_visible_here(shop):
    api, admin = shop.api, shop.admin
    cname = "V1 cat " + unique_hex(6)
    vc = expect(api.post("/api/v1/categories/", json={"name": cname, "description": "d"},
                         headers=admin), 201)
    pname = "V1 product " + unique_hex(6)
    vp = expect(api.post("/api/v1/products/", json={
        "name": pname, "description": "from v1", "category_id": vc["id"], "price": "999.99",
        "stock_quantity": 50, "image": None}, headers=admin), 201)
    got = expect(shop.detail(vp["id"]), 200)
    assert without(got, "created_at", "updated_at") == {
        "id": vp["id"], "name": pname, "description": "from v1",
        "category": {"id": vc["id"], "name": cname}, "inventory": 50,
        "price_weights": [{"id": got["price_weights"][0]["id"], "price": "999.99", "weight": "",
                           "inventory": 50, "status": "In stock"}],
        "tags": [], "image_urls": [], "is_active": True}
    listed = [c for c in expect(api.get(CATEGORIES), 200) if c["id"] == vc["id"]]
    assert len(listed) == 1 and listed[0]["name"] == cname
    assert expect(api.get(category_path(listed[0]["category_id"])), 200)["id"] == vc["id"]
    # And the other way: a shop product with several variants, in v1.
    sp = shop.product(shop.category(), price_weights="300-1kg,200-2kg", inventory=7)
    v1 = expect(api.get(f"/api/v1/products/{sp['id']}/", headers=admin), 200)
    assert (v1["price"], v1["stock_quantity"]) == ("200.00", 7)


# ---------------------------------------------------------------------------
# Bulk upload
# ---------------------------------------------------------------------------

HEADER = ["name", "description", "category_id", "inventory", "price_weights"]


def csv_bytes(rows, header=HEADER):
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    if header:
        w.writerow(header)
    w.writerows(rows)
    return out.getvalue().encode()


def xlsx_bytes(rows, header=HEADER):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def product_by_name(shop, name, headers=None):
    """The product of that name, found through the public list (None when absent)."""
    page = 1
    while True:
        body = expect(shop.api.get(PRODUCTS, params={"page": page, "page_size": 100},
                                   headers=headers), 200)
        for p in body["results"]:
            if p["name"] == name:
                return p
        if body["next"] is None:
            return None
        page += 1


def count_named(shop, prefix):
    rows = shop.server.sql("SELECT name FROM products")
    return sum(1 for (n,) in rows if n.startswith(prefix))


def test_bulk_upload_good_rows(shop):
    cat = shop.category(category_id="bu-" + unique_hex(6))
    tag = unique_hex(6)
    rows = [[f"Smartphone {tag}", "Latest model smartphone", cat["category_id"], 100,
             "2000-100gms,3000-200gms,4000-300gms"],
            [f"Laptop {tag}", "High performance laptop", cat["category_id"], 50,
             "50000-1kg, 75000-1.5kg"]]
    body = expect(shop.upload(csv_bytes(rows)), 201)
    assert body == {"status": "success", "message": "Products uploaded successfully",
                    "rows": 2, "created": 2, "errors": []}
    phone = product_by_name(shop, f"Smartphone {tag}")
    assert phone["description"] == "Latest model smartphone"
    assert phone["category"] == {"id": cat["id"], "name": cat["name"]}
    assert phone["inventory"] == 100
    assert [(v["price"], v["weight"], v["inventory"]) for v in phone["price_weights"]] == [
        ("2000.00", "100gms", 34), ("3000.00", "200gms", 33), ("4000.00", "300gms", 33)]
    laptop = product_by_name(shop, f"Laptop {tag}")
    assert [(v["price"], v["weight"], v["inventory"]) for v in laptop["price_weights"]] == [
        ("50000.00", "1kg", 25), ("75000.00", "1.5kg", 25)]


def test_bulk_upload_document_example_unquoted(shop):
    """The document's example line leaves the price_weights commas unquoted: the trailing
    cells are the one price_weights column."""
    cid = "ex-" + unique_hex(6)
    shop.category(category_id=cid)
    tag = unique_hex(6)
    text = ("name,description,category_id,inventory,price_weights\n"
            f"Smartphone {tag},Latest model smartphone,{cid},100,2000-100gms,3000-200gms,"
            "4000-300gms\n").encode()
    body = expect(shop.upload(text), 201)
    assert body["created"] == 1 and body["errors"] == []
    p = product_by_name(shop, f"Smartphone {tag}")
    assert [v["weight"] for v in p["price_weights"]] == ["100gms", "200gms", "300gms"]


def test_bulk_upload_bad_rows(shop):
    cat = shop.category(category_id="bad-" + unique_hex(6))
    existing = shop.product(cat)
    tag = unique_hex(6)
    rows = [[f"Good {tag}", "fine", cat["category_id"], 10, "100-1kg"],
            [f"NoCat {tag}", "x", "no-such-" + tag, 10, "100-1kg"],
            [f"Negative {tag}", "x", cat["category_id"], -5, "100-1kg"],
            [f"BadPW {tag}", "x", cat["category_id"], 10, "cheap"],
            [existing["name"], "x", cat["category_id"], 10, "100-1kg"],
            ["", "no name", cat["category_id"], 10, "100-1kg"],
            [f"Good2 {tag}", "fine", cat["category_id"], "", "5-1kg"],
            [f"Good {tag}", "twice in the file", cat["category_id"], 1, "100-1kg"]]
    body = expect(shop.upload(csv_bytes(rows)), 201)
    assert set(body) == {"status", "message", "rows", "created", "errors"}
    assert body["status"] == "partial" and body["rows"] == 8
    failed = {e["row"] for e in body["errors"]}
    assert {2, 3, 4, 5, 6, 8} <= failed and 1 not in failed
    assert all(isinstance(e["error"], str) and e["error"] for e in body["errors"])
    assert body["created"] == 8 - len(failed)
    assert "category_id" in next(e["error"] for e in body["errors"] if e["row"] == 2)
    assert product_by_name(shop, f"Good {tag}")["inventory"] == 10
    assert product_by_name(shop, f"NoCat {tag}") is None
    assert count_named(shop, f"Negative {tag}") == 0

    # Nothing valid: 400, nothing saved, every row reported in the error text too.
    rows = [[f"Lonely {tag}", "x", "no-such-" + tag, 1, "1-1kg"],
            [f"Broken {tag}", "x", cat["category_id"], "ten", "1-1kg"]]
    body = expect(shop.upload(csv_bytes(rows)), 400)
    assert set(body) == {"error", "rows", "created", "errors"}
    assert body["created"] == 0 and [e["row"] for e in body["errors"]] == [1, 2]
    assert "Row 1:" in body["error"] and "Row 2:" in body["error"]
    assert count_named(shop, f"Lonely {tag}") == 0


def test_bulk_upload_malformed_files(shop):
    cat = shop.category(category_id="mal-" + unique_hex(6))
    tag = unique_hex(6)
    # An unterminated quote.
    text = ("name,description,category_id,inventory,price_weights\r\n"
            f'Fine {tag},ok,{cat["category_id"]},1,1-1kg\r\n'
            f'"Broken {tag},ok,{cat["category_id"]},1,1-1kg\r\n').encode()
    body = expect(shop.upload(text), 400)
    assert set(body) == {"error", "rows", "created", "errors"}
    assert body["created"] == 0 and len(body["errors"]) == 1
    assert body["errors"][0]["row"] == 0 and body["error"] == body["errors"][0]["error"]
    assert count_named(shop, f"Fine {tag}") == 0
    # Columns missing from the header.
    body = expect(shop.upload(csv_bytes([[f"Only {tag}", "x"]], header=["name", "description"])),
                  400)
    assert [e["row"] for e in body["errors"]] == [0] and "category_id" in body["error"]
    # Not a CSV at all, an empty file, no file.
    assert expect(shop.upload(png_bytes(), filename="x.csv"), 400)["error"]
    assert expect(shop.upload(b"", filename="empty.csv"), 400)["error"]
    assert expect(shop.api.post(BULK, files={"other": ("a.csv", b"x", "text/csv")},
                                headers=shop.admin), 400) == {"error": "No file was submitted."}
    assert expect(shop.api.post(BULK, json={"file": "products.csv"}, headers=shop.admin),
                  400) == {"error": "No file was submitted."}
    assert count_named(shop, f"Only {tag}") == 0


def test_bulk_upload_xlsx(shop):
    cat = shop.category(category_id="xl-" + unique_hex(6))
    tag = unique_hex(6)
    data = xlsx_bytes([[f"Sheet phone {tag}", "from a sheet", cat["category_id"], 9,
                        "2000-100gms,3000-200gms"],
                       [f"Sheet laptop {tag}", "also", cat["category_id"], 4, "50000-1kg"]])
    body = expect(shop.upload(data, filename="products.xlsx",
                              content_type="application/vnd.openxmlformats-officedocument."
                                           "spreadsheetml.sheet"), 201)
    assert body["status"] == "success" and body["created"] == 2
    p = product_by_name(shop, f"Sheet phone {tag}")
    assert p["inventory"] == 9
    assert [(v["price"], v["inventory"]) for v in p["price_weights"]] == [
        ("2000.00", 5), ("3000.00", 4)]


def test_bulk_upload_dry_run_writes_nothing(shop):
    cat = shop.category(category_id="dry-" + unique_hex(6))
    tag = unique_hex(6)
    rows = [[f"Dry {tag} a", "x", cat["category_id"], 1, "1-1kg"],
            [f"Dry {tag} b", "x", cat["category_id"], 2, "2-1kg"]]
    before = len(shop.server.sql("SELECT id FROM products"))
    body = expect(shop.upload(csv_bytes(rows), query="?dry_run=1"), 200)
    assert body == {"status": "dry_run", "message": "Every row is valid; nothing was saved.",
                    "rows": 2, "valid": 2, "created": 0, "errors": []}
    rows.append([f"Dry {tag} c", "x", "no-such-" + tag, 1, "1-1kg"])
    body = expect(shop.upload(csv_bytes(rows), query="?dry_run=true"), 200)
    assert body["status"] == "dry_run" and body["valid"] == 2 and body["created"] == 0
    assert [e["row"] for e in body["errors"]] == [3]
    assert len(shop.server.sql("SELECT id FROM products")) == before
    assert count_named(shop, f"Dry {tag}") == 0
    # dry_run=0 is a real upload.
    body = expect(shop.upload(csv_bytes(rows[:2]), query="?dry_run=0"), 201)
    assert body["created"] == 2 and count_named(shop, f"Dry {tag}") == 2


def test_bulk_upload_needs_an_admin(shop):
    data = csv_bytes([["Nope " + unique_hex(6), "x", "001", 1, "1-1kg"]])
    assert expect(shop.api.post(BULK, files={"file": ("p.csv", data, "text/csv")}),
                  401) == NOT_PROVIDED
    assert expect(shop.upload(data, headers=shop.customer), 403) == PERMISSIONS
