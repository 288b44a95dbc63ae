"""GET /api/search/?q=&type=: the unified search of seed document 002 (surface `shop`).

A small catalogue shaped like the document's examples (prodtest1-3 in cattest1-2) plus a
few products for the typo cases. Walks exact, partial, case-insensitive, tag and
description matches, the product/category filter, the "did you mean" suggestions for
typos, transpositions and missing letters, the 404 when nothing is close, the 400s,
inactive and deleted products kept out, a product created through /api/v1/ found here, and
the analytics record of every search.
"""

import re
import struct
import time
import zlib

import pytest

from shopdtest import Api, Server, expect, http, strong_password, unique_email, unique_hex

SEARCH = "/api/search/"
CATEGORIES = "/api/categories/"
PRODUCTS = "/api/products/"

SUGGEST_DETAIL = "No exact match found, did you mean:"
NO_MATCH = {"detail": "No matches found."}
Q_REQUIRED = {"error": "Query parameter 'q' is required."}


def png_bytes():
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00\xff\x00")) + chunk(b"IEND", b""))


class Catalogue:
    """A server of its own with the document's example catalogue."""

    def __init__(self, server):
        self.server = server
        self.api = Api(server)
        email, password = unique_email("admin"), strong_password()
        r = server.cli("createsuperuser", "--username", "admin_" + unique_hex(8), "--email",
                       email, "--password", password)
        assert r.returncode == 0, r.stderr
        self.admin = {"Authorization": "Bearer " + self.api.login(email, password).access}
        self.customer_user = self.api.new_user()
        self.customer = {"Authorization": "Bearer " + self.customer_user.access}

        self.cat1 = self.category(category_id="1", name="cattest1",
                                  description="this is is a test", tags=["spices"])
        self.cat2 = expect(self.api.post(CATEGORIES, files={
            "category_id": (None, "catid2"), "name": (None, "cattest2"),
            "description": (None, "testing cat_2"), "tags": (None, '["test2"]'),
            "image": ("decorative.png", png_bytes(), "image/png")}, headers=self.admin), 201)
        self.computers = self.category(category_id="comp", name="Computers",
                                       description="machines", tags=["hardware"])
        self.p1 = self.product(self.cat1, name="prodtest1", description="first", tags=["spicy"],
                               price_weights=[
                                   {"price": "2100.00", "weight": "102gms", "inventory": 5},
                                   {"price": "2200.00", "weight": "100gms", "inventory": 3},
                                   {"price": "2002.00", "weight": "100gms", "inventory": 3}],
                               image_urls=["http://example.com/media/products/1/bedroom.webp"])
        self.p2 = self.product(self.cat2, name="prodtest2", description="second",
                               tags=["test2", "prod2"], price_weights=[
                                   {"price": "20999.99", "weight": "100gms", "inventory": 10},
                                   {"price": "2000.01", "weight": "100gms", "inventory": 5},
                                   {"price": "2000.02", "weight": "100gms", "inventory": 5}],
                               image_urls=["http://example.com/media/products/2/bg-fur.webp"])
        self.p3 = self.product(self.cat2, name="prodtest3", description="third",
                               tags=["test2", "prod2", "pt2"], price_weights=[
                                   {"price": "2000.02", "weight": "100gms", "inventory": 0}])
        self.hidden = self.product(self.cat2, name="prodtest4", description="xylophonic",
                                   is_active=False, price_weights="5-1kg")
        self.laptop = self.product(self.computers, name="Laptop", description="portable",
                                   price_weights="50000-1kg", inventory=4)
        self.mouse = self.product(self.computers, name="Wireless Mouse",
                                  description="ergonomic pointer", price_weights="900-100gms",
                                  inventory=2)

    def category(self, **body):
        return expect(self.api.post(CATEGORIES, json=body, headers=self.admin), 201)

    def product(self, category, **body):
        body["category"] = category["id"]
        return expect(self.api.post(PRODUCTS, json=body, headers=self.admin), 201)

    def search(self, headers=None, **params):
        return self.api.get(SEARCH, params=params, headers=headers)


@pytest.fixture(scope="module")
def cat():
    s = Server(name="shop-search")
    try:
        s.start()
        yield Catalogue(s)
    finally:
        s.stop()


def compact(p):
    """The search's product shape, from the catalogue's product object."""
    return {"id": p["id"], "name": p["name"], "category": p["category"]["id"],
            "inventory": p["inventory"], "tags": p["tags"],
            "price_weights": [{"price": v["price"], "weight": v["weight"]}
                              for v in p["price_weights"]],
            "images": [{"image_url": u, "description": ""} for u in p["image_urls"]],
            "is_active": p["is_active"],
            "status": "In stock" if p["inventory"] > 0 else "Out of stock"}


def category_entry(c, products):
    return {"id": c["id"], "category_id": c["category_id"], "name": c["name"],
            "description": c["description"], "tags": c["tags"], "image": c["image"],
            "products": products}


def by_id(items):
    return sorted(items, key=lambda x: x["id"])


def test_exact_product(cat):
    body = expect(cat.search(q="prodtest2"), 200)
    assert body == {"products": [compact(cat.p2)], "categories": []}
    assert body["products"][0] == {
        "id": cat.p2["id"], "name": "prodtest2", "category": cat.cat2["id"], "inventory": 20,
        "tags": ["test2", "prod2"],
        "price_weights": [{"price": "20999.99", "weight": "100gms"},
                          {"price": "2000.01", "weight": "100gms"},
                          {"price": "2000.02", "weight": "100gms"}],
        "images": [{"image_url": "http://example.com/media/products/2/bg-fur.webp",
                    "description": ""}],
        "is_active": True, "status": "In stock"}
    # Case does not matter; surrounding spaces neither.
    assert expect(cat.search(q="  PRODTEST2 "), 200) == body


def test_exact_category_with_its_products(cat):
    body = expect(cat.search(q="cattest2"), 200)
    assert body["products"] == []
    assert len(body["categories"]) == 1
    entry = body["categories"][0]
    # Only its active products; the hidden one is not there.
    assert by_id(entry["products"]) == by_id([compact(cat.p2), compact(cat.p3)])
    assert {**entry, "products": []} == category_entry(cat.cat2, [])
    assert re.match(re.escape(cat.server.base_url) + r"/media/categories/[0-9a-f]{32}\.png$",
                    entry["image"])
    r = http("GET", entry["image"])
    assert r.status_code == 200 and r.headers["Content-Type"].split(";")[0] == "image/png"


def test_partial_term_finds_products_and_categories(cat):
    body = expect(cat.search(q="test"), 200)
    assert by_id(body["products"]) == by_id([compact(cat.p1), compact(cat.p2), compact(cat.p3)])
    assert sorted(c["name"] for c in body["categories"]) == ["cattest1", "cattest2"]
    cat1 = next(c for c in body["categories"] if c["name"] == "cattest1")
    assert cat1 == category_entry(cat.cat1, [compact(cat.p1)])
    # An out-of-stock product is still found, with its status.
    p3 = next(p for p in body["products"] if p["id"] == cat.p3["id"])
    assert p3["status"] == "Out of stock" and p3["inventory"] == 0


def test_type_filter(cat):
    products = expect(cat.search(q="test", type="product"), 200)
    assert products["categories"] == [] and len(products["products"]) == 3
    categories = expect(cat.search(q="test", type="category"), 200)
    assert categories["products"] == [] and len(categories["categories"]) == 2
    both = expect(cat.search(q="test", type=""), 200)
    assert len(both["products"]) == 3 and len(both["categories"]) == 2
    for bad in ("products!", "user", "PRODUCT"):
        b = expect(cat.search(q="test", type=bad), 400)
        assert set(b) == {"error"} and "type" in b["error"]


def test_tags_and_descriptions_match(cat):
    assert expect(cat.search(q="spicy"), 200) == {"products": [compact(cat.p1)],
                                                   "categories": []}
    assert expect(cat.search(q="ergonomic"), 200) == {"products": [compact(cat.mouse)],
                                                       "categories": []}
    hw = expect(cat.search(q="hardware"), 200)
    assert hw["products"] == [] and [c["name"] for c in hw["categories"]] == ["Computers"]
    assert by_id(hw["categories"][0]["products"]) == by_id([compact(cat.laptop),
                                                             compact(cat.mouse)])


def exact_ids(r):
    """The ids of the products an answer found exactly ([] for suggestions or 404)."""
    assert r.status_code in (200, 404), r.text
    return [p["id"] for p in r.json().get("products", [])]


def test_inactive_products_are_not_found(cat):
    # Not by name: the similar active names are suggested, never the hidden one.
    body = expect(cat.search(q="prodtest4"), 200)
    assert body["detail"] == SUGGEST_DETAIL
    assert set(body["product_suggestions"]) >= {"prodtest1", "prodtest2", "prodtest3"}
    assert "prodtest4" not in body["product_suggestions"]
    # Not by description, and not inside its category.
    assert expect(cat.search(q="xylophonic"), 404) == NO_MATCH
    entry = expect(cat.search(q="cattest2"), 200)["categories"][0]
    assert cat.hidden["id"] not in [p["id"] for p in entry["products"]]


@pytest.mark.parametrize("q", ["lpatop", "laptp", "laptoq", "LAPTPO"])
def test_typos_get_suggestions(cat, q):
    body = expect(cat.search(q=q), 200)
    assert set(body) == {"detail", "product_suggestions", "category_suggestions"}
    assert body["detail"] == SUGGEST_DETAIL
    assert body["product_suggestions"][0] == "Laptop"


def test_category_typo_and_product_typo(cat):
    body = expect(cat.search(q="computrs"), 200)
    assert body["detail"] == SUGGEST_DETAIL
    assert "Computers" in body["category_suggestions"]
    body = expect(cat.search(q="prodtets"), 200)
    assert body["detail"] == SUGGEST_DETAIL
    assert set(body["product_suggestions"]) >= {"prodtest1", "prodtest2", "prodtest3"}
    assert "prodtest4" not in body["product_suggestions"]
    # type narrows the suggestions too: no product name is close to it.
    assert expect(cat.search(q="computrs", type="product"), 404) == NO_MATCH
    only = expect(cat.search(q="prodtets", type="product"), 200)
    assert only["category_suggestions"] == []


def test_nothing_close_is_404(cat):
    assert expect(cat.search(q="zzqxjv"), 404) == NO_MATCH
    assert expect(cat.search(q="qqqqqqqqqqqq", type="category"), 404) == NO_MATCH


def test_query_is_required(cat):
    assert expect(cat.api.get(SEARCH), 400) == Q_REQUIRED
    assert expect(cat.search(q=""), 400) == Q_REQUIRED
    assert expect(cat.search(q="   "), 400) == Q_REQUIRED
    assert expect(cat.search(type="product"), 400) == Q_REQUIRED
    long = expect(cat.search(q="x" * 201), 400)
    assert set(long) == {"error"}
    assert expect(cat.search(q="é" * 200), 404) == NO_MATCH  # characters, not bytes


def test_changes_reach_the_search(cat):
    tag = unique_hex(8)
    p = cat.product(cat.computers, name=f"Monitor {tag}", price_weights="100-1kg", inventory=1)
    assert exact_ids(cat.search(q=tag)) == [p["id"]]
    path = f"{PRODUCTS}{p['id']}/"
    renamed = f"Display {unique_hex(8)}"
    expect(cat.api.patch(path, json={"name": renamed}, headers=cat.admin), 200)
    assert exact_ids(cat.search(q=renamed)) == [p["id"]]
    assert exact_ids(cat.search(q=f"Monitor {tag}")) == []
    expect(cat.api.patch(path, json={"is_active": False}, headers=cat.admin), 200)
    assert exact_ids(cat.search(q=renamed)) == []
    expect(cat.api.patch(path, json={"is_active": True}, headers=cat.admin), 200)
    assert exact_ids(cat.search(q=renamed)) == [p["id"]]
    assert cat.api.delete(path, headers=cat.admin).status_code == 204
    assert exact_ids(cat.search(q=renamed)) == []


def test_product_created_through_v1_is_found(cat):
    tag = unique_hex(8)
    vc = expect(cat.api.post("/api/v1/categories/", json={"name": f"Spice rack {tag}",
                                                          "description": "v1"},
                             headers=cat.admin), 201)
    vp = expect(cat.api.post("/api/v1/products/", json={
        "name": f"Zanzibar clove {tag}", "description": "from v1", "category_id": vc["id"],
        "price": "999.99", "stock_quantity": 50, "image": None}, headers=cat.admin), 201)
    body = expect(cat.search(q=f"clove {tag}"), 200)
    assert body == {"products": [{
        "id": vp["id"], "name": f"Zanzibar clove {tag}", "category": vc["id"], "inventory": 50,
        "tags": [], "price_weights": [{"price": "999.99", "weight": ""}], "images": [],
        "is_active": True, "status": "In stock"}], "categories": []}
    rack = expect(cat.search(q=f"Spice rack {tag}"), 200)
    assert [c["id"] for c in rack["categories"]] == [vc["id"]]
    assert [p["id"] for p in rack["categories"][0]["products"]] == [vp["id"]]


def test_every_search_is_recorded(cat):
    tag = unique_hex(8)
    p = cat.product(cat.computers, name=f"Recorded {tag}", price_weights="1-1kg")

    def rows(q):
        return cat.server.sql(
            "SELECT type, user_id, result_count FROM searches WHERE query = '"
            + q.replace("'", "''") + "' ORDER BY id")

    def recorded(q):
        # The server writes its search records in batches about every 100 ms.
        deadline = time.monotonic() + 2
        while True:
            found = rows(q)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    expect(cat.search(q=f"Recorded {tag}"), 200)
    assert recorded(f"Recorded {tag}") == [("all", None, "1")]
    expect(cat.search(q=f"recorded {tag}", type="product", headers=cat.customer), 200)
    assert recorded(f"recorded {tag}") == [("product", str(cat.customer_user.id), "1")]
    expect(cat.search(q=f"Recordde {tag}"), 200)  # suggestions: no exact result
    assert recorded(f"Recordde {tag}") == [("all", None, "0")]
    expect(cat.search(q=f"zzqx{tag}", type="category"), 404)
    assert recorded(f"zzqx{tag}") == [("category", None, "0")]
    # A refused request searched nothing and records nothing: once a later
    # search is recorded (records are written in order), it is not there.
    expect(cat.search(q="   "), 400)
    expect(cat.search(q=f"bad{tag}", type="nope"), 400)
    expect(cat.search(q=f"zzqy{tag}", type="category"), 404)
    assert recorded(f"zzqy{tag}") == [("category", None, "0")]
    assert rows(f"bad{tag}") == []
    assert p["id"]
