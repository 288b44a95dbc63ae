"""/api/v1/products/ and /api/v1/categories/ (seed 003, endpoints 7-16).

Every route needs a token; writes need an admin. The session server is shared with other
test modules, so tests that count rows either filter by a category of their own or start a
fresh server (make_server)."""

import re
import struct
import zlib

import pytest

from shopdtest import Api, expect, strong_password, unique_hex

PRODUCTS = "/api/v1/products/"
CATEGORIES = "/api/v1/categories/"

NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}
NOT_FOUND = {"detail": "Not found."}
INVALID_PAGE = {"detail": "Invalid page."}
REQUIRED = ["This field is required."]
BLANK = ["This field may not be blank."]
NULL = ["This field may not be null."]
BAD_CHOICE = {"category": [
    "Select a valid choice. That choice is not one of the available choices."]}

FORBIDDEN = {
    "create_product": {"detail": "Only admins can create products"},
    "update_product": {"detail": "Only admins can update products"},
    "delete_product": {"detail": "Only admins can delete products"},
    "create_category": {"detail": "Only admins can create categories"},
    "update_category": {"detail": "Only admins can update categories"},
    "delete_category": {"detail": "Only admins can delete categories"},
}

DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PRODUCT_KEYS = ["id", "name", "slug", "description", "category", "category_id", "price",
                "stock_quantity", "image", "created_at", "updated_at"]


def several_variants(pid):
    return [f"This product has several price-weight variants; update them through "
            f"/api/products/{pid}/."]


def H(token):
    return Api.auth(token)


def slug_of(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def new_category(api, admin, name=None, description="Electronic devices"):
    name = name or f"Electronics {unique_hex(8)}"
    body = {"name": name}
    if description is not None:
        body["description"] = description
    return expect(api.post(CATEGORIES, json=body, headers=H(admin.access)), 201)


def new_product(api, admin, category, name=None, price="999.99", stock=50, **extra):
    body = {"name": name or f"Laptop {unique_hex(8)}", "description": "High-performance laptop",
            "category_id": category["id"], "price": price, "stock_quantity": stock,
            "image": None}
    body.update(extra)
    return expect(api.post(PRODUCTS, json=body, headers=H(admin.access)), 201)


def assert_product(p, name, category, price="999.99", stock=50, image=None,
                   description="High-performance laptop", slug=None):
    """The whole v1 product object, key order included."""
    assert list(p) == PRODUCT_KEYS, p
    assert isinstance(p["id"], int) and p["id"] > 0
    assert DATE_RE.match(p["created_at"]) and DATE_RE.match(p["updated_at"]), p
    assert p == {
        "id": p["id"], "name": name, "slug": slug or slug_of(name), "description": description,
        "category": {"id": category["id"], "name": category["name"], "slug": category["slug"],
                     "description": category["description"]},
        "category_id": category["id"], "price": price, "stock_quantity": stock, "image": image,
        "created_at": p["created_at"], "updated_at": p["updated_at"],
    }


def list_products(api, token, **params):
    return expect(api.get(PRODUCTS, params=params, headers=H(token)), 200)


def png_bytes():
    """A real 1x1 PNG."""
    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# ---------------------------------------------------------------------------
# authentication and permissions
# ---------------------------------------------------------------------------

ROUTES = [("GET", PRODUCTS), ("POST", PRODUCTS), ("GET", PRODUCTS + "1/"),
          ("PUT", PRODUCTS + "1/"), ("PATCH", PRODUCTS + "1/"), ("DELETE", PRODUCTS + "1/"),
          ("GET", CATEGORIES), ("POST", CATEGORIES), ("GET", CATEGORIES + "1/"),
          ("PUT", CATEGORIES + "1/"), ("PATCH", CATEGORIES + "1/"), ("DELETE", CATEGORIES + "1/")]


@pytest.mark.parametrize("method,path", ROUTES)
def test_every_route_needs_a_token(api, method, path):
    r = api.request(method, path, json={"name": "x"})
    assert expect(r, 401) == NOT_PROVIDED
    assert r.headers.get("WWW-Authenticate") == 'Bearer realm="api"'


def test_paths_without_trailing_slash(api, user, admin):
    c = new_category(api, admin)
    assert expect(api.get(CATEGORIES.rstrip("/"), headers=H(user.access)), 200)["count"] >= 1
    assert expect(api.get(f"{CATEGORIES}{c['id']}", headers=H(user.access)), 200) == c


def test_customer_gets_403_on_every_write(api, user, admin):
    c = new_category(api, admin)
    p = new_product(api, admin, c)
    t = H(user.access)
    body = {"name": f"Nope {unique_hex(6)}", "category_id": c["id"], "price": "1.00"}
    assert expect(api.post(PRODUCTS, json=body, headers=t), 403) == FORBIDDEN["create_product"]
    for method in ("PUT", "PATCH"):
        r = api.request(method, f"{PRODUCTS}{p['id']}/", json=body, headers=t)
        assert expect(r, 403) == FORBIDDEN["update_product"]
    r = api.delete(f"{PRODUCTS}{p['id']}/", headers=t)
    assert expect(r, 403) == FORBIDDEN["delete_product"]
    r = api.post(CATEGORIES, json={"name": f"Nope {unique_hex(6)}"}, headers=t)
    assert expect(r, 403) == FORBIDDEN["create_category"]
    for method in ("PUT", "PATCH"):
        r = api.request(method, f"{CATEGORIES}{c['id']}/", json={"name": "x"}, headers=t)
        assert expect(r, 403) == FORBIDDEN["update_category"]
    r = api.delete(f"{CATEGORIES}{c['id']}/", headers=t)
    assert expect(r, 403) == FORBIDDEN["delete_category"]
    # The permission is checked before the lookup: a customer learns nothing of ids.
    r = api.patch(f"{PRODUCTS}999999999/", json={}, headers=t)
    assert expect(r, 403) == FORBIDDEN["update_product"]
    r = api.delete(f"{CATEGORIES}999999999/", headers=t)
    assert expect(r, 403) == FORBIDDEN["delete_category"]
    # Nothing changed.
    assert expect(api.get(f"{PRODUCTS}{p['id']}/", headers=t), 200) == p
    assert expect(api.get(f"{CATEGORIES}{c['id']}/", headers=t), 200) == c


def test_admin_by_user_type_may_write(api, server):
    """user_type admin without is_staff is an admin too (one admin check)."""
    u = api.new_user()
    server.sql(f"UPDATE users SET user_type = 'admin' WHERE id = {u.id}")
    new_category(api, u)


# ---------------------------------------------------------------------------
# categories: 12-16
# ---------------------------------------------------------------------------

def test_create_category(api, admin, user):
    name = f"Electronics {unique_hex(8)}"
    r = api.post(CATEGORIES, json={"name": name, "description": "Electronic devices"},
                 headers=H(admin.access))
    c = expect(r, 201)
    assert list(c) == ["id", "name", "slug", "description"]
    assert c == {"id": c["id"], "name": name, "slug": slug_of(name),
                 "description": "Electronic devices"}
    assert expect(api.get(f"{CATEGORIES}{c['id']}/", headers=H(user.access)), 200) == c


def test_create_category_description_optional(api, admin):
    c = new_category(api, admin, description=None)
    assert c["description"] == ""


def test_create_category_errors(api, admin):
    t = H(admin.access)
    assert expect(api.post(CATEGORIES, json={}, headers=t), 400) == {"name": REQUIRED}
    assert expect(api.post(CATEGORIES, json={"name": "  "}, headers=t), 400) == {"name": BLANK}
    assert expect(api.post(CATEGORIES, json={"name": None}, headers=t), 400) == {"name": NULL}
    assert expect(api.post(CATEGORIES, json={"name": ["a"]}, headers=t), 400) == {
        "name": ["Not a valid string."]}
    c = new_category(api, admin)
    r = api.post(CATEGORIES, json={"name": c["name"].upper()}, headers=t)
    assert expect(r, 400) == {"name": ["category with this name already exists."]}


def test_category_slugs_stay_unique(api, admin):
    base = f"Laptop {unique_hex(8)}"
    a = new_category(api, admin, name=base)
    b = new_category(api, admin, name=base + "!")
    assert a["slug"] == slug_of(base)
    assert b["slug"] == slug_of(base) + "-2"


def test_category_detail_404(api, user):
    r = api.get(f"{CATEGORIES}999999999/", headers=H(user.access))
    assert expect(r, 404) == NOT_FOUND


def test_update_category_patch_as_documented(api, admin, user):
    c = new_category(api, admin)
    r = api.patch(f"{CATEGORIES}{c['id']}/",
                  json={"description": "Updated description for electronic devices"},
                  headers=H(admin.access))
    assert expect(r, 200) == dict(c, description="Updated description for electronic devices")
    assert expect(api.get(f"{CATEGORIES}{c['id']}/", headers=H(user.access)), 200) == dict(
        c, description="Updated description for electronic devices")


def test_update_category_put(api, admin):
    c = new_category(api, admin)
    t = H(admin.access)
    url = f"{CATEGORIES}{c['id']}/"
    assert expect(api.put(url, json={"description": "x"}, headers=t), 400) == {"name": REQUIRED}
    name = f"Computing {unique_hex(8)}"
    r = api.put(url, json={"name": name, "description": "Computers"}, headers=t)
    got = expect(r, 200)
    assert got["id"] == c["id"] and got["name"] == name and got["description"] == "Computers"
    # PUT without the optional description keeps it.
    got2 = expect(api.put(url, json={"name": name}, headers=t), 200)
    assert got2["description"] == "Computers"
    other = new_category(api, admin)
    r = api.patch(url, json={"name": other["name"]}, headers=t)
    assert expect(r, 400) == {"name": ["category with this name already exists."]}
    assert expect(api.patch(url, json={"name": ""}, headers=t), 400) == {"name": BLANK}


def test_update_category_404_before_validation(api, admin):
    t = H(admin.access)
    assert expect(api.put(f"{CATEGORIES}999999999/", json={}, headers=t), 404) == NOT_FOUND
    assert expect(api.patch(f"{CATEGORIES}999999999/", json={"name": "x"}, headers=t),
                  404) == NOT_FOUND


def test_delete_category(api, admin, user):
    c = new_category(api, admin)
    r = api.delete(f"{CATEGORIES}{c['id']}/", headers=H(admin.access))
    assert expect(r, 200) == {"message": "Category deleted successfully"}
    assert expect(api.get(f"{CATEGORIES}{c['id']}/", headers=H(user.access)), 404) == NOT_FOUND
    r = api.delete(f"{CATEGORIES}{c['id']}/", headers=H(admin.access))
    assert expect(r, 404) == NOT_FOUND


def test_delete_category_with_products_is_refused(api, admin):
    c = new_category(api, admin)
    p1 = new_product(api, admin, c)
    p2 = new_product(api, admin, c)
    r = api.delete(f"{CATEGORIES}{c['id']}/", headers=H(admin.access))
    assert expect(r, 400) == {
        "non_field_errors": ["Cannot delete a category that still has 2 products."]}
    # Nothing cascaded away.
    assert expect(api.get(f"{CATEGORIES}{c['id']}/", headers=H(admin.access)), 200) == c
    for p in (p1, p2):
        assert expect(api.get(f"{PRODUCTS}{p['id']}/", headers=H(admin.access)), 200) == p
    for p in (p1, p2):
        expect(api.delete(f"{PRODUCTS}{p['id']}/", headers=H(admin.access)), 200)
    r = api.delete(f"{CATEGORIES}{c['id']}/", headers=H(admin.access))
    assert expect(r, 200) == {"message": "Category deleted successfully"}


def test_categories_pagination(make_server, create_admin):
    """A fresh server: exact counts, absolute next/previous, the 100 cap, invalid pages."""
    s = make_server()
    api = s.api
    email, password = Api.unique_email("admin"), strong_password()
    create_admin(s, email, password)
    t = H(api.login(email, password).access)
    made = []
    for i in range(105):
        r = api.post(CATEGORIES, json={"name": f"Category {i:03d}", "description": f"d{i}"},
                     headers=t)
        made.append(expect(r, 201))
    base = s.base_url + CATEGORIES

    page1 = expect(api.get(CATEGORIES, headers=t), 200)
    assert list(page1) == ["count", "next", "previous", "results"]
    assert page1["count"] == 105
    assert page1["next"] == base + "?page=2"
    assert page1["previous"] is None
    assert page1["results"] == made[:20]  # by id

    page2 = expect(api.get(CATEGORIES, params={"page": 2}, headers=t), 200)
    assert page2["results"] == made[20:40]
    assert page2["next"] == base + "?page=3"
    assert page2["previous"] == base  # DRF leaves page=1 out

    r = api.get(CATEGORIES + "?page_size=10&page=3", headers=t)
    body = expect(r, 200)
    assert body["results"] == made[20:30]
    assert body["next"] == base + "?page_size=10&page=4"
    assert body["previous"] == base + "?page_size=10&page=2"

    capped = expect(api.get(CATEGORIES, params={"page_size": 1000}, headers=t), 200)
    assert len(capped["results"]) == 100
    assert capped["results"] == made[:100]
    assert capped["next"] == base + "?page_size=1000&page=2"
    last = expect(api.get(CATEGORIES + "?page_size=1000&page=2", headers=t), 200)
    assert last["results"] == made[100:]
    assert last["next"] is None
    assert last["previous"] == base + "?page_size=1000"

    by_last = expect(api.get(CATEGORIES, params={"page": "last"}, headers=t), 200)
    assert by_last["results"] == made[100:]
    assert by_last["previous"] == base + "?page=5"

    # Unusable page sizes fall back to the default.
    for size in ("0", "-3", "abc"):
        body = expect(api.get(CATEGORIES, params={"page_size": size}, headers=t), 200)
        assert len(body["results"]) == 20, size

    for page in ("7", "0", "-1", "abc", "1.5", "9223372036854775807", "99999999999999999999"):
        r = api.get(CATEGORIES, params={"page": page}, headers=t)
        assert expect(r, 404) == INVALID_PAGE, page
        r = api.get(PRODUCTS, params={"page": page}, headers=t)
        assert expect(r, 404) == INVALID_PAGE, page


def test_empty_lists(make_server, create_admin):
    s = make_server()
    api = s.api
    email, password = Api.unique_email("admin"), strong_password()
    create_admin(s, email, password)
    t = H(api.login(email, password).access)
    empty = {"count": 0, "next": None, "previous": None, "results": []}
    assert expect(api.get(CATEGORIES, headers=t), 200) == empty
    assert expect(api.get(PRODUCTS, headers=t), 200) == empty
    assert expect(api.get(PRODUCTS, params={"page": 2}, headers=t), 404) == INVALID_PAGE


# ---------------------------------------------------------------------------
# products: 7-11
# ---------------------------------------------------------------------------

def test_create_product_as_documented(api, admin, user):
    c = new_category(api, admin)
    name = f"Laptop {unique_hex(8)}"
    body = {"name": name, "description": "High-performance laptop", "category_id": c["id"],
            "price": "999.99", "stock_quantity": 50, "image": None}
    p = expect(api.post(PRODUCTS, json=body, headers=H(admin.access)), 201)
    assert_product(p, name, c)
    assert expect(api.get(f"{PRODUCTS}{p['id']}/", headers=H(user.access)), 200) == p


@pytest.mark.parametrize("given,shown", [
    ("999.99", "999.99"), (999.99, "999.99"), (10, "10.00"), ("10", "10.00"), ("0.5", "0.50"),
    (".5", "0.50"), ("0", "0.00"), (" 12.30 ", "12.30"), ("99999999.99", "99999999.99"),
    ("007.10", "7.10"),
])
def test_product_price_forms(api, admin, given, shown):
    c = new_category(api, admin)
    p = new_product(api, admin, c, price=given)
    assert p["price"] == shown


def test_create_product_defaults(api, admin):
    """description, stock_quantity and image may be left out."""
    c = new_category(api, admin)
    name = f"Plain {unique_hex(8)}"
    r = api.post(PRODUCTS, json={"name": name, "category_id": c["id"], "price": "5"},
                 headers=H(admin.access))
    p = expect(r, 201)
    assert_product(p, name, c, price="5.00", stock=0, description="")


def test_create_product_category_id_as_string(api, admin):
    c = new_category(api, admin)
    p = new_product(api, admin, c, category_id=str(c["id"]), stock="7")
    assert p["category_id"] == c["id"] and p["stock_quantity"] == 7


def test_create_product_errors(api, admin):
    t = H(admin.access)
    c = new_category(api, admin)
    r = api.post(PRODUCTS, json={}, headers=t)
    assert expect(r, 400) == {"name": REQUIRED, "category_id": REQUIRED, "price": REQUIRED}

    r = api.post(PRODUCTS, json={"name": "", "category_id": "abc", "price": "abc",
                                 "stock_quantity": -1, "image": "not a url"}, headers=t)
    assert expect(r, 400) == {
        "name": BLANK,
        "category_id": ["Incorrect type. Expected pk value, received str."],
        "price": ["A valid number is required."],
        "stock_quantity": ["Ensure this value is greater than or equal to 0."],
        "image": ["Enter a valid URL."],
    }
    r = api.post(PRODUCTS, json={"name": None, "category_id": None, "price": None,
                                 "stock_quantity": None, "description": None}, headers=t)
    assert expect(r, 400) == {"name": NULL, "description": NULL, "category_id": NULL,
                              "price": NULL, "stock_quantity": NULL}


@pytest.mark.parametrize("field,value,message", [
    ("price", "9.999", "Ensure that there are no more than 2 decimal places."),
    ("price", "12345678901", "Ensure that there are no more than 10 digits in total."),
    ("price", "123456789.5",
     "Ensure that there are no more than 8 digits before the decimal point."),
    ("price", "-1", "Ensure this value is greater than or equal to 0."),
    ("price", "1e3", "A valid number is required."),
    ("price", "", "A valid number is required."),
    ("price", True, "A valid number is required."),
    ("price", {"amount": 1}, "A valid number is required."),
    ("stock_quantity", "abc", "A valid integer is required."),
    ("stock_quantity", 1.5, "A valid integer is required."),
    ("stock_quantity", True, "A valid integer is required."),
    ("stock_quantity", 2147483648, "Ensure this value is less than or equal to 2147483647."),
    ("category_id", True, "Incorrect type. Expected pk value, received bool."),
    ("category_id", [1], "Incorrect type. Expected pk value, received list."),
    ("category_id", 999999999, 'Invalid pk "999999999" - object does not exist.'),
    ("category_id", 0, 'Invalid pk "0" - object does not exist.'),
    ("image", "ftp://example.com/a.jpg", "Enter a valid URL."),
    ("image", "http://", "Enter a valid URL."),
    ("image", 12, "Enter a valid URL."),
])
def test_create_product_field_errors(api, admin, field, value, message):
    c = new_category(api, admin)
    body = {"name": f"Bad {unique_hex(8)}", "description": "d", "category_id": c["id"],
            "price": "1.00", "stock_quantity": 1}
    body[field] = value
    r = api.post(PRODUCTS, json=body, headers=H(admin.access))
    assert expect(r, 400) == {field: [message]}


def test_product_name_taken(api, admin):
    c = new_category(api, admin)
    p = new_product(api, admin, c)
    r = api.post(PRODUCTS, json={"name": p["name"].upper(), "category_id": c["id"],
                                 "price": "1"}, headers=H(admin.access))
    assert expect(r, 400) == {"name": ["product with this name already exists."]}


def test_product_slugs_stay_unique(api, admin):
    c = new_category(api, admin)
    base = f"Laptop {unique_hex(8)}"
    a = new_product(api, admin, c, name=base)
    b = new_product(api, admin, c, name=base + "!")
    assert a["slug"] == slug_of(base)
    assert b["slug"] == slug_of(base) + "-2"


def test_product_image_urls(api, server, admin):
    c = new_category(api, admin)
    t = H(admin.access)
    p = new_product(api, admin, c, image="https://cdn.example.com/products/laptop.jpg")
    assert p["image"] == "https://cdn.example.com/products/laptop.jpg"
    url = f"{PRODUCTS}{p['id']}/"
    # A URL under this server's /media/ is a URL like any other: stored as given, so
    # removing replaced uploads can never reach a file that is not the product's own.
    own = server.base_url + "/media/avatars/someone.png"
    assert expect(api.patch(url, json={"image": own}, headers=t), 200)["image"] == own
    rows = server.sql(f"SELECT image FROM products WHERE id = {p['id']}")
    assert rows == [(own,)]
    assert expect(api.patch(url, json={"image": None}, headers=t), 200)["image"] is None
    assert expect(api.patch(url, json={"image": "http://example.com/x.png"}, headers=t),
                  200)["image"] == "http://example.com/x.png"
    assert expect(api.patch(url, json={"image": ""}, headers=t), 200)["image"] is None


def test_product_image_upload(api, server, admin, user):
    c = new_category(api, admin)
    name = f"Camera {unique_hex(8)}"
    data = {"name": name, "description": "d", "category_id": str(c["id"]), "price": "10.50",
            "stock_quantity": "3"}
    r = api.post(PRODUCTS, data=data, files={"image": ("cam.png", png_bytes(), "image/png")},
                 headers=H(admin.access))
    p = expect(r, 201)
    prefix = server.base_url + "/media/products/"
    assert p["image"].startswith(prefix) and p["image"].endswith(".png"), p
    assert_product(p, name, c, price="10.50", stock=3, image=p["image"], description="d")
    img = api.get(p["image"][len(server.base_url):])
    assert img.status_code == 200 and img.headers["Content-Type"] == "image/png"
    assert img.content == png_bytes()
    stored = server.media_dir / p["image"][len(server.base_url + "/media/"):]
    assert stored.is_file()

    # Written back as read (GET, edit, PUT), the upload stays.
    url = f"{PRODUCTS}{p['id']}/"
    put_body = {k: p[k] for k in ("name", "description", "category_id", "price",
                                  "stock_quantity", "image")}
    r = api.put(url, json=dict(put_body, description="edited"), headers=H(admin.access))
    assert expect(r, 200) == dict(p, description="edited", updated_at=r.json()["updated_at"])
    assert stored.is_file()

    # Replacing it removes the old file.
    r = api.patch(f"{PRODUCTS}{p['id']}/", files={"image": ("b.png", png_bytes(), "image/png")},
                  headers=H(admin.access))
    p2 = expect(r, 200)
    assert p2["image"] != p["image"] and p2["image"].startswith(prefix)
    assert not stored.is_file()
    stored2 = server.media_dir / p2["image"][len(server.base_url + "/media/"):]
    assert stored2.is_file()
    # Clearing it removes the file too.
    r = api.patch(url, json={"image": None}, headers=H(admin.access))
    assert expect(r, 200)["image"] is None
    assert not stored2.is_file()

    # A text file renamed .png is refused by its content; nothing is stored.
    before = sorted((server.media_dir / "products").iterdir())
    r = api.post(PRODUCTS, data=dict(data, name=f"Fake {unique_hex(8)}"),
                 files={"image": ("fake.png", b"just some text", "image/png")},
                 headers=H(admin.access))
    assert expect(r, 400) == {"image": [
        "Upload a valid image. The file you uploaded was either not an image or a corrupted "
        "image."]}
    assert sorted((server.media_dir / "products").iterdir()) == before
    # An upload with an invalid other field stores nothing either.
    r = api.post(PRODUCTS, data=dict(data, price="x"),
                 files={"image": ("cam.png", png_bytes(), "image/png")},
                 headers=H(admin.access))
    assert expect(r, 400) == {"price": ["A valid number is required."]}
    assert sorted((server.media_dir / "products").iterdir()) == before
    # A customer's upload is refused before anything is stored.
    r = api.post(PRODUCTS, data=dict(data, name=f"Cust {unique_hex(8)}"),
                 files={"image": ("cam.png", png_bytes(), "image/png")},
                 headers=H(user.access))
    assert expect(r, 403) == FORBIDDEN["create_product"]
    assert sorted((server.media_dir / "products").iterdir()) == before


def test_product_detail_404(api, user):
    r = api.get(f"{PRODUCTS}999999999/", headers=H(user.access))
    assert expect(r, 404) == NOT_FOUND


def test_update_product_patch_as_documented(api, admin, user):
    c = new_category(api, admin)
    p = new_product(api, admin, c)
    r = api.patch(f"{PRODUCTS}{p['id']}/", json={"price": "899.99", "stock_quantity": 45},
                  headers=H(admin.access))
    got = expect(r, 200)
    assert_product(got, p["name"], c, price="899.99", stock=45)
    assert got["id"] == p["id"] and got["created_at"] == p["created_at"]
    assert expect(api.get(f"{PRODUCTS}{p['id']}/", headers=H(user.access)), 200) == got


def test_update_product_patch_each_field(api, admin):
    c = new_category(api, admin)
    c2 = new_category(api, admin)
    p = new_product(api, admin, c)
    url = f"{PRODUCTS}{p['id']}/"
    t = H(admin.access)
    got = expect(api.patch(url, json={"stock_quantity": 0}, headers=t), 200)
    assert (got["price"], got["stock_quantity"]) == ("999.99", 0)
    got = expect(api.patch(url, json={"price": 5}, headers=t), 200)
    assert (got["price"], got["stock_quantity"]) == ("5.00", 0)
    got = expect(api.patch(url, json={"category_id": c2["id"]}, headers=t), 200)
    assert got["category_id"] == c2["id"]
    assert got["category"] == {k: c2[k] for k in ("id", "name", "slug", "description")}
    got = expect(api.patch(url, json={"description": ""}, headers=t), 200)
    assert got["description"] == ""
    name = f"Renamed {unique_hex(8)}"
    got = expect(api.patch(url, json={"name": name}, headers=t), 200)
    assert got["name"] == name
    assert expect(api.patch(url, json={}, headers=t), 200) == got
    # Errors as on create, field by field.
    assert expect(api.patch(url, json={"name": ""}, headers=t), 400) == {"name": BLANK}
    assert expect(api.patch(url, json={"price": "-2"}, headers=t), 400) == {
        "price": ["Ensure this value is greater than or equal to 0."]}
    assert expect(api.patch(url, json={"category_id": 999999999}, headers=t), 400) == {
        "category_id": ['Invalid pk "999999999" - object does not exist.']}
    other = new_product(api, admin, c)
    assert expect(api.patch(url, json={"name": other["name"]}, headers=t), 400) == {
        "name": ["product with this name already exists."]}


def test_update_product_put(api, admin):
    c = new_category(api, admin)
    p = new_product(api, admin, c)
    url = f"{PRODUCTS}{p['id']}/"
    t = H(admin.access)
    r = api.put(url, json={"description": "only this"}, headers=t)
    assert expect(r, 400) == {"name": REQUIRED, "category_id": REQUIRED, "price": REQUIRED}
    name = f"Desktop {unique_hex(8)}"
    r = api.put(url, json={"name": name, "description": "Tower", "category_id": c["id"],
                           "price": "1299.00", "stock_quantity": 4, "image": None}, headers=t)
    got = expect(r, 200)
    assert_product(got, name, c, price="1299.00", stock=4, description="Tower")
    # PUT without the optional fields keeps them.
    r = api.put(url, json={"name": name, "category_id": c["id"], "price": "1299.00"}, headers=t)
    assert expect(r, 200) == dict(got, updated_at=expect(r, 200)["updated_at"])


def test_update_product_404(api, admin):
    t = H(admin.access)
    assert expect(api.put(f"{PRODUCTS}999999999/", json={}, headers=t), 404) == NOT_FOUND
    assert expect(api.patch(f"{PRODUCTS}999999999/", json={"price": "1"}, headers=t),
                  404) == NOT_FOUND


def test_delete_product(api, admin, user):
    c = new_category(api, admin)
    p = new_product(api, admin, c)
    r = api.delete(f"{PRODUCTS}{p['id']}/", headers=H(admin.access))
    assert expect(r, 200) == {"message": "Product deleted successfully"}
    assert expect(api.get(f"{PRODUCTS}{p['id']}/", headers=H(user.access)), 404) == NOT_FOUND
    assert expect(api.delete(f"{PRODUCTS}{p['id']}/", headers=H(admin.access)), 404) == NOT_FOUND
    assert list_products(api, admin.access, category=c["id"])["count"] == 0


# ---------------------------------------------------------------------------
# product list: filters and pagination
# ---------------------------------------------------------------------------

def test_list_products_by_category_paginated(api, server, admin, user):
    c = new_category(api, admin)
    made = [new_product(api, admin, c, price=f"{i}.00", stock=i) for i in range(1, 26)]
    newest_first = list(reversed(made))
    base = server.base_url + PRODUCTS
    body = list_products(api, user.access, category=c["id"])
    assert list(body) == ["count", "next", "previous", "results"]
    assert body["count"] == 25
    assert body["next"] == f"{base}?category={c['id']}&page=2"
    assert body["previous"] is None
    assert body["results"] == newest_first[:20]

    r = api.get(f"{PRODUCTS}?category={c['id']}&page=2&page_size=10", headers=H(user.access))
    body = expect(r, 200)
    assert body["results"] == newest_first[10:20]
    assert body["next"] == f"{base}?category={c['id']}&page=3&page_size=10"
    assert body["previous"] == f"{base}?category={c['id']}&page_size=10"

    body = list_products(api, user.access, category=c["id"], page_size=1000)
    assert body["results"] == newest_first and body["next"] is None

    r = api.get(f"{PRODUCTS}?category={c['id']}&page=4&page_size=10", headers=H(user.access))
    assert expect(r, 404) == INVALID_PAGE
    for page in ("0", "x"):
        r = api.get(PRODUCTS, params={"category": c["id"], "page": page}, headers=H(user.access))
        assert expect(r, 404) == INVALID_PAGE


def test_list_products_page_size_cap(api, admin):
    c = new_category(api, admin)
    for i in range(101):
        new_product(api, admin, c, name=f"Bulk {unique_hex(10)}", price="1.00", stock=1)
    body = list_products(api, admin.access, category=c["id"], page_size=500)
    assert body["count"] == 101 and len(body["results"]) == 100
    assert body["next"].endswith(f"?category={c['id']}&page_size=500&page=2")
    body = list_products(api, admin.access, category=c["id"], page_size=500, page=2)
    assert len(body["results"]) == 1


def test_list_products_search(api, server, admin, user):
    tag = unique_hex(10)
    c = new_category(api, admin)
    a = new_product(api, admin, c, name=f"Laptop {tag} Pro")
    b = new_product(api, admin, c, name=f"Mouse {unique_hex(8)}",
                    description=f"Pairs with {tag} laptops")
    new_product(api, admin, c, name=f"Keyboard {unique_hex(8)}")
    body = list_products(api, user.access, search=tag)
    assert body["count"] == 2
    assert body["results"] == [b, a]
    # Case does not matter (DRF's icontains).
    assert list_products(api, user.access, search=tag.upper())["results"] == [b, a]
    assert list_products(api, user.access, search=f"Laptop {tag}")["results"] == [a]
    assert list_products(api, user.access, search="no-such-" + tag) == {
        "count": 0, "next": None, "previous": None, "results": []}
    # search and category together; next keeps both.
    other = new_category(api, admin)
    d = new_product(api, admin, other, name=f"Laptop {tag} Air")
    assert list_products(api, user.access, search=tag, category=other["id"])["results"] == [d]
    r = api.get(PRODUCTS, params={"search": tag, "category": c["id"], "page_size": 1},
                headers=H(user.access))
    body = expect(r, 200)
    assert body["count"] == 2 and body["results"] == [b]
    assert body["next"] == (f"{server.base_url}{PRODUCTS}?search={tag}&category={c['id']}"
                            f"&page_size=1&page=2")
    # An empty search or category filters nothing.
    assert list_products(api, user.access, search="", category=c["id"])["count"] == 3
    assert list_products(api, user.access, search=tag, category="")["count"] == 3


def test_list_products_search_escapes_url(api, server, admin, user):
    c = new_category(api, admin)
    name = f"Lamp & Shade {unique_hex(8)}"
    p = new_product(api, admin, c, name=name)
    new_product(api, admin, c, name=f"Lamp & Shade {unique_hex(8)}")
    body = list_products(api, user.access, search=name[:-8], category=c["id"], page_size=1)
    assert body["count"] == 2 and body["results"][0]["id"] != p["id"]
    assert body["next"] == (f"{server.base_url}{PRODUCTS}?search=Lamp%20%26%20Shade%20"
                            f"&category={c['id']}&page_size=1&page=2")


@pytest.mark.parametrize("value", ["abc", "1.5", "-1", "0", "999999999"])
def test_list_products_bad_category(api, user, value):
    r = api.get(PRODUCTS, params={"category": value}, headers=H(user.access))
    assert expect(r, 400) == BAD_CHOICE


# ---------------------------------------------------------------------------
# inactive products
# ---------------------------------------------------------------------------

def test_inactive_products_hidden_from_customers(api, server, admin, user):
    c = new_category(api, admin)
    shown = new_product(api, admin, c)
    hidden = new_product(api, admin, c)
    server.sql(f"UPDATE products SET is_active = false WHERE id = {hidden['id']}")
    body = list_products(api, user.access, category=c["id"])
    assert body["count"] == 1 and body["results"] == [shown]
    assert list_products(api, user.access, search=hidden["name"])["count"] == 0
    r = api.get(f"{PRODUCTS}{hidden['id']}/", headers=H(user.access))
    assert expect(r, 404) == NOT_FOUND
    # Admins see and manage them.
    body = list_products(api, admin.access, category=c["id"])
    assert body["count"] == 2 and [p["id"] for p in body["results"]] == [hidden["id"], shown["id"]]
    got = expect(api.get(f"{PRODUCTS}{hidden['id']}/", headers=H(admin.access)), 200)
    assert got["id"] == hidden["id"]
    got = expect(api.patch(f"{PRODUCTS}{hidden['id']}/", json={"stock_quantity": 9},
                           headers=H(admin.access)), 200)
    assert got["stock_quantity"] == 9
    # An update through v1 does not reactivate it.
    r = api.get(f"{PRODUCTS}{hidden['id']}/", headers=H(user.access))
    assert expect(r, 404) == NOT_FOUND
    # A category of only inactive products still cannot be deleted.
    c2 = new_category(api, admin)
    p = new_product(api, admin, c2)
    server.sql(f"UPDATE products SET is_active = false WHERE id = {p['id']}")
    r = api.delete(f"{CATEGORIES}{c2['id']}/", headers=H(admin.access))
    assert expect(r, 400) == {
        "non_field_errors": ["Cannot delete a category that still has 1 product."]}
    r = api.delete(f"{PRODUCTS}{hidden['id']}/", headers=H(admin.access))
    assert expect(r, 200) == {"message": "Product deleted successfully"}


# ---------------------------------------------------------------------------
# products with several variants (made through the shop surface)
# ---------------------------------------------------------------------------

def make_multi_variant(api, server, admin, category):
    """A product with three price-weight variants: through POST /api/products/ when the
    shop surface serves it, else a v1 product given two more variants in storage."""
    name = f"Tea {unique_hex(8)}"
    body = {"name": name, "description": "Loose leaf", "category": category["id"],
            "price_weights": [{"price": "300.00", "weight": "200gms", "inventory": 5},
                              {"price": "200.00", "weight": "100gms", "inventory": 7},
                              {"price": "500.00", "weight": "500gms", "inventory": 3}],
            "is_active": True}
    r = api.post("/api/products/", json=body, headers=H(admin.access))
    if r.status_code == 201:
        return r.json()["id"], name
    assert r.status_code in (404, 405), r.text
    p = new_product(api, admin, category, name=name, price="300.00", stock=5,
                    description="Loose leaf")
    first = int(server.sql(
        f"SELECT position FROM product_variants WHERE product_id = {p['id']}")[0][0])
    server.sql(f"UPDATE product_variants SET weight = '200gms' WHERE product_id = {p['id']}")
    server.sql("INSERT INTO product_variants (product_id, position, price_minor, weight, inventory)"
               f" VALUES ({p['id']}, {first + 1}, 20000, '100gms', 7),"
               f" ({p['id']}, {first + 2}, 50000, '500gms', 3)")
    return p["id"], name


def test_multi_variant_product_in_v1(api, server, admin, user):
    c = new_category(api, admin)
    pid, name = make_multi_variant(api, server, admin, c)
    got = expect(api.get(f"{PRODUCTS}{pid}/", headers=H(user.access)), 200)
    assert_product(got, name, c, price="200.00", stock=15, description="Loose leaf")
    listed = list_products(api, user.access, category=c["id"])
    assert listed["results"] == [got]

    url = f"{PRODUCTS}{pid}/"
    t = H(admin.access)
    # Changing the price or the stock would have to pick a variant: refused.
    r = api.patch(url, json={"price": "250.00"}, headers=t)
    assert expect(r, 400) == {"price": several_variants(pid)}
    r = api.patch(url, json={"price": "250.00", "stock_quantity": 1}, headers=t)
    assert expect(r, 400) == {"price": several_variants(pid),
                              "stock_quantity": several_variants(pid)}
    # The values read back are accepted as unchanged: GET, edit, PUT works.
    new_name = f"Green {name}"
    r = api.put(url, json={"name": new_name, "description": got["description"],
                           "category_id": got["category_id"], "price": got["price"],
                           "stock_quantity": got["stock_quantity"], "image": None}, headers=t)
    after = expect(r, 200)
    assert_product(after, new_name, c, price="200.00", stock=15, description="Loose leaf")
    rows = server.sql(f"SELECT price_minor, weight, inventory FROM product_variants"
                      f" WHERE product_id = {pid} ORDER BY position")
    assert rows == [("30000", "200gms", "5"), ("20000", "100gms", "7"), ("50000", "500gms", "3")]


def test_v1_product_is_one_variant(api, server, admin):
    c = new_category(api, admin)
    p = new_product(api, admin, c, price="12.34", stock=6)
    rows = server.sql(f"SELECT price_minor, weight, inventory FROM product_variants"
                      f" WHERE product_id = {p['id']}")
    assert rows == [("1234", "", "6")]
    vid = server.sql(f"SELECT id FROM product_variants WHERE product_id = {p['id']}")
    expect(api.patch(f"{PRODUCTS}{p['id']}/", json={"price": "1", "stock_quantity": 2},
                     headers=H(admin.access)), 200)
    # The variant keeps its id (carts point at it).
    assert server.sql(f"SELECT id, price_minor, inventory FROM product_variants"
                      f" WHERE product_id = {p['id']}") == [(vid[0][0], "100", "2")]
