"""/api/v1/cart/, /api/v1/orders/ and /api/v1/reports/summary/ (seed 003, endpoints 17-21,
26-31 and 32).

Products are made through the v1 admin API, each with a unique name, so tests sharing the
session server never see each other's stock. Tests that count every order of the database
(reports) start a server of their own."""

import re
import threading

import pytest

from shopdtest import Api, User, expect, strong_password, unique_email, unique_hex

PRODUCTS = "/api/v1/products/"
CATEGORIES = "/api/v1/categories/"
CART = "/api/v1/cart/"
CART_ITEMS = "/api/v1/cart/items/"
CHECKOUT = "/api/v1/cart/checkout/"
ORDERS = "/api/v1/orders/"
REPORTS = "/api/v1/reports/summary/"

NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}
NOT_FOUND = {"detail": "Not found."}
REQUIRED = ["This field is required."]
BLANK = ["This field may not be blank."]
NOT_INTEGER = ["A valid integer is required."]
NO_PRODUCT = ["Product not found or inactive"]
AT_LEAST_ONE = ["Quantity must be at least 1."]
ORDER_FORBIDDEN = {"detail": "You do not have permission to access this order."}
IDEM_MISMATCH = {"detail": "Idempotency-Key was already used with a different request."}
IDEM_INVALID = {"detail": "Invalid Idempotency-Key header."}
ADDRESS = "123 Main St, City, State, ZIP"
OTHER_ADDRESS = "456 New St, City, State, ZIP"

DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ORDER_NUMBER_RE = re.compile(r"^ORD-[A-Z0-9]{8}$")
CART_KEYS = ["id", "items", "total_amount", "created_at", "updated_at"]
CART_ITEM_KEYS = ["id", "product", "quantity", "price", "subtotal", "created_at"]
ORDER_KEYS = ["id", "order_number", "customer", "customer_email", "total_amount", "status",
              "shipping_address", "billing_address", "items", "stripe_payment_intent_id",
              "client_secret", "crm_sync_status", "created_at", "updated_at"]
ORDER_ITEM_KEYS = CART_ITEM_KEYS


def H(token, key=None):
    h = Api.auth(token)
    if key is not None:
        h["Idempotency-Key"] = key
    return h


def new_category(api, admin):
    body = {"name": f"Orders {unique_hex(8)}", "description": "Things to order"}
    return expect(api.post(CATEGORIES, json=body, headers=H(admin.access)), 201)


def new_product(api, admin, price="999.99", stock=50, category=None, name=None):
    category = category or new_category(api, admin)
    body = {"name": name or f"Laptop {unique_hex(8)}", "description": "High-performance laptop",
            "category_id": category["id"], "price": price, "stock_quantity": stock}
    return expect(api.post(PRODUCTS, json=body, headers=H(admin.access)), 201)


def product_now(api, admin, pid):
    return expect(api.get(f"{PRODUCTS}{pid}/", headers=H(admin.access)), 200)


def stock_of(api, admin, pid):
    return product_now(api, admin, pid)["stock_quantity"]


def set_stock(api, admin, pid, stock):
    r = api.patch(f"{PRODUCTS}{pid}/", json={"stock_quantity": stock}, headers=H(admin.access))
    expect(r, 200)


def cart_of(api, u):
    return expect(api.get(CART, headers=H(u.access)), 200)


def add(api, u, pid, quantity=None, status=201):
    body = {"product_id": pid}
    if quantity is not None:
        body["quantity"] = quantity
    return expect(api.post(CART, json=body, headers=H(u.access)), status)


def checkout(api, u, status=201, key=None, **extra):
    body = {"shipping_address": ADDRESS, "billing_address": ADDRESS}
    body.update(extra)
    return expect(api.post(CHECKOUT, json=body, headers=H(u.access, key)), status)


def create_order(api, u, items, status=201, key=None):
    body = {"shipping_address": ADDRESS, "billing_address": ADDRESS, "items": items}
    return expect(api.post(ORDERS, json=body, headers=H(u.access, key)), status)


def money(minor):
    return f"{minor // 100}.{minor % 100:02d}"


def minor(text):
    units, cents = text.split(".")
    return int(units) * 100 + int(cents)


def assert_cart_item(item, product, quantity, unit_price):
    assert list(item) == CART_ITEM_KEYS, item
    assert isinstance(item["id"], int) and item["id"] > 0
    assert DATE_RE.match(item["created_at"]), item
    assert item["product"] == product
    assert item["quantity"] == quantity
    assert item["price"] == unit_price
    assert item["subtotal"] == money(minor(unit_price) * quantity)


def assert_order(o, u, items, status="pending", address=ADDRESS, billing=ADDRESS):
    """The whole order. items: [(product object or None, quantity, unit price)]."""
    assert list(o) == ORDER_KEYS, o
    assert isinstance(o["id"], int) and o["id"] > 0
    assert ORDER_NUMBER_RE.match(o["order_number"]), o["order_number"]
    assert o["customer"] == u.id
    assert o["customer_email"] == u.email
    assert o["status"] == status
    assert o["shipping_address"] == address
    assert o["billing_address"] == billing
    assert o["stripe_payment_intent_id"] is None
    assert o["client_secret"] is None
    assert o["crm_sync_status"] is None
    assert DATE_RE.match(o["created_at"]) and DATE_RE.match(o["updated_at"]), o
    assert len(o["items"]) == len(items), o["items"]
    total = 0
    for got, (product, quantity, price) in zip(o["items"], items):
        assert list(got) == ORDER_ITEM_KEYS, got
        assert isinstance(got["id"], int) and got["id"] > 0
        assert got["product"] == product
        assert got["quantity"] == quantity
        assert got["price"] == price
        assert got["subtotal"] == money(minor(price) * quantity)
        assert DATE_RE.match(got["created_at"])
        total += minor(price) * quantity
    assert o["total_amount"] == money(total)


def order_ids(api, u):
    return [o["id"] for o in expect(api.get(ORDERS, headers=H(u.access)), 200)]


# ---------------------------------------------------------------------------
# authentication
# ---------------------------------------------------------------------------

ROUTES = [("GET", CART), ("POST", CART), ("DELETE", CART), ("PUT", CART_ITEMS + "1/"),
          ("PATCH", CART_ITEMS + "1/"), ("DELETE", CART_ITEMS + "1/"), ("POST", CHECKOUT),
          ("GET", ORDERS), ("POST", ORDERS), ("GET", ORDERS + "1/"), ("PUT", ORDERS + "1/"),
          ("PATCH", ORDERS + "1/"), ("DELETE", ORDERS + "1/"), ("GET", REPORTS)]


@pytest.mark.parametrize("method,path", ROUTES)
def test_every_route_needs_a_token(api, method, path):
    assert expect(api.request(method, path, json={}), 401) == NOT_PROVIDED


# ---------------------------------------------------------------------------
# 26-30: the cart
# ---------------------------------------------------------------------------

def test_new_user_gets_an_empty_cart_with_a_real_id(api, user):
    c = cart_of(api, user)
    assert list(c) == CART_KEYS
    assert isinstance(c["id"], int) and c["id"] > 0
    assert c["items"] == [] and c["total_amount"] == "0.00"
    assert DATE_RE.match(c["created_at"]) and DATE_RE.match(c["updated_at"])
    assert cart_of(api, user)["id"] == c["id"]
    assert cart_of(api, api.new_user())["id"] != c["id"]


def test_add_item_and_read_cart(api, user, admin):
    p = new_product(api, admin, price="999.99", stock=50)
    item = add(api, user, p["id"], 2)
    # Cart lines hold no stock: the product still shows all 50.
    assert_cart_item(item, product_now(api, admin, p["id"]), 2, "999.99")
    assert item["product"]["stock_quantity"] == 50
    c = cart_of(api, user)
    assert c["items"] == [item]
    assert c["total_amount"] == "1999.98"


def test_adding_again_adds_to_the_line(api, user, admin):
    p = new_product(api, admin, price="10.50", stock=10)
    first = add(api, user, p["id"], 2)
    second = add(api, user, p["id"], 3)
    assert second["id"] == first["id"]
    assert second["quantity"] == 5 and second["subtotal"] == "52.50"
    q = new_product(api, admin, price="1.00", stock=10)
    add(api, user, q["id"])  # quantity defaults to 1
    c = cart_of(api, user)
    assert [(i["product"]["id"], i["quantity"]) for i in c["items"]] == [(p["id"], 5), (q["id"], 1)]
    assert c["total_amount"] == "53.50"


def test_quantity_as_string_and_integral_number(api, user, admin):
    p = new_product(api, admin, price="1.00", stock=10)
    assert add(api, user, p["id"], "2")["quantity"] == 2
    assert add(api, user, str(p["id"]), 2.0)["quantity"] == 4


def test_add_item_errors(api, user, admin):
    p = new_product(api, admin, price="5.00", stock=5)
    t = H(user.access)

    def err(body):
        return expect(api.post(CART, json=body, headers=t), 400)

    assert err({}) == {"product_id": REQUIRED}
    assert err({"quantity": 1}) == {"product_id": REQUIRED}
    assert err({"product_id": 999999999}) == {"product_id": NO_PRODUCT}
    assert err({"product_id": -1}) == {"product_id": NO_PRODUCT}
    assert err({"product_id": "abc"}) == {"product_id": NOT_INTEGER}
    assert err({"product_id": True}) == {"product_id": NOT_INTEGER}
    assert err({"product_id": None}) == {"product_id": ["This field may not be null."]}
    assert err({"product_id": p["id"], "quantity": 0}) == {"quantity": AT_LEAST_ONE}
    assert err({"product_id": p["id"], "quantity": -3}) == {"quantity": AT_LEAST_ONE}
    assert err({"product_id": p["id"], "quantity": "two"}) == {"quantity": NOT_INTEGER}
    assert err({"product_id": p["id"], "quantity": 1.5}) == {"quantity": NOT_INTEGER}
    assert err({"product_id": p["id"], "quantity": [1]}) == {"quantity": NOT_INTEGER}
    assert err({"product_id": "x", "quantity": 0}) == {"product_id": NOT_INTEGER,
                                                       "quantity": AT_LEAST_ONE}
    assert err({"product_id": p["id"], "quantity": 6}) == {"non_field_errors": ["Insufficient stock"]}
    # The line's quantity counts: 3 in the cart, 3 more would need 6.
    add(api, user, p["id"], 3)
    assert err({"product_id": p["id"], "quantity": 3}) == {"non_field_errors": ["Insufficient stock"]}
    assert add(api, user, p["id"], 2)["quantity"] == 5
    assert [i["quantity"] for i in cart_of(api, user)["items"]] == [5]


def test_inactive_product_cannot_be_added(api, user, admin, server):
    p = new_product(api, admin, stock=5)
    server.sql(f"UPDATE products SET is_active = FALSE WHERE id = {p['id']}")
    r = api.post(CART, json={"product_id": p["id"], "quantity": 1}, headers=H(user.access))
    assert expect(r, 400) == {"product_id": NO_PRODUCT}


def test_clear_cart(api, user, admin):
    p = new_product(api, admin)
    add(api, user, p["id"], 1)
    cart_id = cart_of(api, user)["id"]
    r = api.delete(CART, headers=H(user.access))
    assert expect(r, 200) == {"message": "Cart cleared successfully"}
    c = cart_of(api, user)
    assert c["id"] == cart_id and c["items"] == [] and c["total_amount"] == "0.00"
    # Clearing an empty cart, or a cart never made, is fine too.
    assert expect(api.delete(CART, headers=H(user.access)), 200)
    assert expect(api.delete(CART, headers=H(api.new_user().access)), 200)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_cart_item(api, user, admin, method):
    p = new_product(api, admin, price="999.99", stock=5)
    item = add(api, user, p["id"], 2)
    url = f"{CART_ITEMS}{item['id']}/"
    t = H(user.access)
    got = expect(api.request(method, url, json={"quantity": 3}, headers=t), 200)
    assert_cart_item(got, product_now(api, admin, p["id"]), 3, "999.99")
    assert got["id"] == item["id"]
    assert got["subtotal"] == "2999.97"
    # Setting, not adding: 5 of 5 is fine, 6 is not.
    assert expect(api.request(method, url, json={"quantity": 5}, headers=t), 200)["quantity"] == 5
    r = api.request(method, url, json={"quantity": 6}, headers=t)
    assert expect(r, 400) == {"error": "Insufficient stock"}
    assert expect(api.request(method, url, json={}, headers=t), 400) == {"quantity": REQUIRED}
    r = api.request(method, url, json={"quantity": 0}, headers=t)
    assert expect(r, 400) == {"quantity": AT_LEAST_ONE}
    r = api.request(method, url, json={"quantity": "x"}, headers=t)
    assert expect(r, 400) == {"quantity": NOT_INTEGER}
    assert [i["quantity"] for i in cart_of(api, user)["items"]] == [5]
    # Unknown lines and other users' lines are 404, whatever the body.
    r = api.request(method, f"{CART_ITEMS}999999999/", json={"quantity": 1}, headers=t)
    assert expect(r, 404) == NOT_FOUND
    other = api.new_user()
    r = api.request(method, url, json={"quantity": 1}, headers=H(other.access))
    assert expect(r, 404) == NOT_FOUND
    r = api.request(method, url, json={}, headers=H(other.access))
    assert expect(r, 404) == NOT_FOUND
    assert [i["quantity"] for i in cart_of(api, user)["items"]] == [5]


def test_remove_cart_item(api, user, admin):
    p = new_product(api, admin)
    q = new_product(api, admin)
    a = add(api, user, p["id"], 1)
    b = add(api, user, q["id"], 1)
    other = api.new_user()
    r = api.delete(f"{CART_ITEMS}{a['id']}/", headers=H(other.access))
    assert expect(r, 404) == NOT_FOUND
    r = api.delete(f"{CART_ITEMS}{a['id']}/", headers=H(user.access))
    assert expect(r, 200) == {"message": "Cart item removed successfully"}
    assert [i["id"] for i in cart_of(api, user)["items"]] == [b["id"]]
    r = api.delete(f"{CART_ITEMS}{a['id']}/", headers=H(user.access))
    assert expect(r, 404) == NOT_FOUND


# ---------------------------------------------------------------------------
# 31: checkout
# ---------------------------------------------------------------------------

def test_checkout_creates_order_takes_stock_and_clears_cart(api, user, admin):
    p = new_product(api, admin, price="999.99", stock=50)
    q = new_product(api, admin, price="0.05", stock=3)
    add(api, user, p["id"], 2)
    add(api, user, q["id"], 3)
    o = checkout(api, user, shipping_address=ADDRESS, billing_address=OTHER_ADDRESS)
    assert_order(o, user, [(product_now(api, admin, p["id"]), 2, "999.99"),
                           (product_now(api, admin, q["id"]), 3, "0.05")],
                 billing=OTHER_ADDRESS)
    assert o["total_amount"] == "2000.13"
    assert stock_of(api, admin, p["id"]) == 48
    assert stock_of(api, admin, q["id"]) == 0
    assert o["items"][0]["product"]["stock_quantity"] == 48
    assert cart_of(api, user)["items"] == []
    assert expect(api.get(f"{ORDERS}{o['id']}/", headers=H(user.access)), 200) == o
    # The order keeps the price it was bought at.
    r = api.patch(f"{PRODUCTS}{p['id']}/", json={"price": "5.00"}, headers=H(admin.access))
    expect(r, 200)
    again = expect(api.get(f"{ORDERS}{o['id']}/", headers=H(user.access)), 200)
    assert again["items"][0]["price"] == "999.99" and again["total_amount"] == "2000.13"
    assert again["items"][0]["product"]["price"] == "5.00"


def test_checkout_can_keep_the_cart(api, user, admin):
    p = new_product(api, admin, price="2.00", stock=10)
    add(api, user, p["id"], 4)
    checkout(api, user, clear_cart=False)
    assert [i["quantity"] for i in cart_of(api, user)["items"]] == [4]
    assert stock_of(api, admin, p["id"]) == 6
    checkout(api, user, clear_cart="false")
    assert stock_of(api, admin, p["id"]) == 2
    assert [i["quantity"] for i in cart_of(api, user)["items"]] == [4]
    # Stock is checked again at checkout: 4 wanted, 2 left.
    r = api.post(CHECKOUT, json={"shipping_address": ADDRESS, "billing_address": ADDRESS},
                 headers=H(user.access))
    assert expect(r, 400) == {"error": f"Insufficient stock for {p['name']}"}
    set_stock(api, admin, p["id"], 4)
    checkout(api, user, clear_cart=True)
    assert cart_of(api, user)["items"] == []


def test_checkout_errors(api, user, admin):
    t = H(user.access)
    r = api.post(CHECKOUT, json={}, headers=t)
    assert expect(r, 400) == {"shipping_address": REQUIRED, "billing_address": REQUIRED}
    r = api.post(CHECKOUT, json={"shipping_address": "  ", "billing_address": ""}, headers=t)
    assert expect(r, 400) == {"shipping_address": BLANK, "billing_address": BLANK}
    r = api.post(CHECKOUT, json={"shipping_address": ADDRESS, "billing_address": ADDRESS,
                                 "clear_cart": "maybe"}, headers=t)
    assert expect(r, 400) == {"clear_cart": ["Must be a valid boolean."]}
    r = api.post(CHECKOUT, json={"shipping_address": ADDRESS, "billing_address": ADDRESS},
                 headers=t)
    assert expect(r, 400) == {"error": "Cart is empty"}
    assert order_ids(api, user) == []


def test_checkout_rolls_back_when_one_line_lacks_stock(api, user, admin):
    p = new_product(api, admin, price="1.00", stock=10)
    q = new_product(api, admin, price="2.00", stock=10)
    add(api, user, p["id"], 4)
    add(api, user, q["id"], 5)
    set_stock(api, admin, q["id"], 4)  # after the line was added
    r = api.post(CHECKOUT, json={"shipping_address": ADDRESS, "billing_address": ADDRESS},
                 headers=H(user.access))
    assert expect(r, 400) == {"error": f"Insufficient stock for {q['name']}"}
    assert stock_of(api, admin, p["id"]) == 10
    assert stock_of(api, admin, q["id"]) == 4
    assert order_ids(api, user) == []
    assert [i["quantity"] for i in cart_of(api, user)["items"]] == [4, 5]


# ---------------------------------------------------------------------------
# 17-19: creating, listing and reading orders
# ---------------------------------------------------------------------------

def test_create_order(api, user, admin):
    p = new_product(api, admin, price="999.99", stock=50)
    q = new_product(api, admin, price="12.00", stock=5)
    o = create_order(api, user, [{"product_id": p["id"], "quantity": 2},
                                 {"product_id": q["id"], "quantity": 1}])
    assert_order(o, user, [(product_now(api, admin, p["id"]), 2, "999.99"),
                           (product_now(api, admin, q["id"]), 1, "12.00")])
    assert o["total_amount"] == "2011.98"
    assert stock_of(api, admin, p["id"]) == 48 and stock_of(api, admin, q["id"]) == 4
    # The cart is not involved.
    assert cart_of(api, user)["items"] == []


def test_create_order_same_product_twice_is_one_line(api, user, admin):
    p = new_product(api, admin, price="3.00", stock=5)
    o = create_order(api, user, [{"product_id": p["id"], "quantity": 2},
                                 {"product_id": p["id"], "quantity": 3}])
    assert [(i["product"]["id"], i["quantity"]) for i in o["items"]] == [(p["id"], 5)]
    assert o["total_amount"] == "15.00"
    assert stock_of(api, admin, p["id"]) == 0


def test_create_order_errors(api, user, admin):
    p = new_product(api, admin, price="1.00", stock=3)
    t = H(user.access)

    def err(body):
        return expect(api.post(ORDERS, json=body, headers=t), 400)

    full = {"shipping_address": ADDRESS, "billing_address": ADDRESS}
    assert err({}) == {"shipping_address": REQUIRED, "billing_address": REQUIRED,
                       "items": REQUIRED}
    assert err({"shipping_address": "", "billing_address": ADDRESS, "items": []}) == {
        "shipping_address": BLANK, "items": ["This list may not be empty."]}
    assert err({**full, "items": {"product_id": p["id"]}}) == {
        "items": ['Expected a list of items but got type "dict".']}
    assert err({**full, "items": [{"product_id": p["id"], "quantity": 1},
                                  {"product_id": 999999999, "quantity": 1}]}) == {
        "items": [{}, {"product_id": NO_PRODUCT}]}
    assert err({**full, "items": [{"quantity": 0}, "x"]}) == {
        "items": [{"product_id": REQUIRED,
                   "quantity": ["Ensure this value is greater than or equal to 1."]},
                  {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}]}
    assert err({**full, "items": [{"product_id": "abc", "quantity": "x"}]}) == {
        "items": [{"product_id": NOT_INTEGER, "quantity": NOT_INTEGER}]}
    too_many = [{"product_id": p["id"], "quantity": 1}] * 101
    assert err({**full, "items": too_many}) == {
        "items": ["Ensure this field has no more than 100 elements."]}
    assert err({**full, "items": [{"product_id": p["id"], "quantity": 4}]}) == {
        "non_field_errors": ["Insufficient stock"]}
    assert stock_of(api, admin, p["id"]) == 3
    assert order_ids(api, user) == []


def test_order_of_a_deleted_product_keeps_its_line(api, user, admin):
    p = new_product(api, admin, price="7.25", stock=5)
    o = create_order(api, user, [{"product_id": p["id"], "quantity": 2}])
    r = api.delete(f"{PRODUCTS}{p['id']}/", headers=H(admin.access))
    assert expect(r, 200) == {"message": "Product deleted successfully"}
    got = expect(api.get(f"{ORDERS}{o['id']}/", headers=H(user.access)), 200)
    assert got["items"][0]["product"] is None
    assert got["items"][0]["price"] == "7.25" and got["items"][0]["subtotal"] == "14.50"
    assert got["total_amount"] == "14.50"


def test_visibility_customer_and_admin(api, admin):
    a, b = api.new_user(), api.new_user()
    p = new_product(api, admin, price="1.00", stock=10)
    a1 = create_order(api, a, [{"product_id": p["id"], "quantity": 1}])
    b1 = create_order(api, b, [{"product_id": p["id"], "quantity": 1}])
    a2 = create_order(api, a, [{"product_id": p["id"], "quantity": 2}])
    listed = expect(api.get(ORDERS, headers=H(a.access)), 200)
    assert isinstance(listed, list)
    assert [o["id"] for o in listed] == [a2["id"], a1["id"]]  # newest first
    assert listed[0] == expect(api.get(f"{ORDERS}{a2['id']}/", headers=H(a.access)), 200)
    assert order_ids(api, b) == [b1["id"]]
    # Another customer's order: 403 with the document's words; none at all: 404.
    r = api.get(f"{ORDERS}{b1['id']}/", headers=H(a.access))
    assert expect(r, 403) == ORDER_FORBIDDEN
    for method in ("PUT", "PATCH"):
        r = api.request(method, f"{ORDERS}{b1['id']}/", json={"shipping_address": "x"},
                        headers=H(a.access))
        assert expect(r, 403) == ORDER_FORBIDDEN
    assert expect(api.delete(f"{ORDERS}{b1['id']}/", headers=H(a.access)), 403) == ORDER_FORBIDDEN
    assert expect(api.get(f"{ORDERS}999999999/", headers=H(a.access)), 404) == NOT_FOUND
    assert expect(api.patch(f"{ORDERS}999999999/", json={}, headers=H(a.access)), 404) == NOT_FOUND
    assert expect(api.delete(f"{ORDERS}999999999/", headers=H(a.access)), 404) == NOT_FOUND
    # Admins see every order, newest first.
    everything = expect(api.get(ORDERS, headers=H(admin.access)), 200)
    ids = [o["id"] for o in everything]
    assert {a1["id"], a2["id"], b1["id"]} <= set(ids)
    assert ids == sorted(ids, reverse=True)
    assert expect(api.get(f"{ORDERS}{b1['id']}/", headers=H(admin.access)), 200)["customer"] == b.id


# ---------------------------------------------------------------------------
# 20-21: updating and deleting orders
# ---------------------------------------------------------------------------

def test_customer_updates_own_pending_order(api, user, admin):
    p = new_product(api, admin, price="1.00", stock=10)
    o = create_order(api, user, [{"product_id": p["id"], "quantity": 3}])
    url = f"{ORDERS}{o['id']}/"
    t = H(user.access)
    got = expect(api.patch(url, json={"shipping_address": OTHER_ADDRESS}, headers=t), 200)
    assert got["shipping_address"] == OTHER_ADDRESS and got["billing_address"] == ADDRESS
    assert got["status"] == "pending"
    # PUT is partial too (docs/surfaces/v1.md).
    got = expect(api.put(url, json={"billing_address": OTHER_ADDRESS}, headers=t), 200)
    assert got["shipping_address"] == OTHER_ADDRESS and got["billing_address"] == OTHER_ADDRESS
    assert expect(api.put(url, json={}, headers=t), 200)["id"] == o["id"]
    r = api.patch(url, json={"shipping_address": " "}, headers=t)
    assert expect(r, 400) == {"shipping_address": BLANK}
    r = api.patch(url, json={"status": "shipped"}, headers=t)
    assert expect(r, 400) == {"status": ['"shipped" is not a valid choice.']}
    r = api.patch(url, json={"status": "PROCESSING"}, headers=t)
    assert expect(r, 400) == {"status": ['"PROCESSING" is not a valid choice.']}
    r = api.patch(url, json={"status": "processing"}, headers=t)
    assert expect(r, 400) == {"status": ["You do not have permission to set this status."]}
    assert stock_of(api, admin, p["id"]) == 7
    # A customer may cancel: the stock comes back, and the order is then final.
    got = expect(api.patch(url, json={"status": "cancelled"}, headers=t), 200)
    assert got["status"] == "cancelled"
    assert stock_of(api, admin, p["id"]) == 10
    r = api.patch(url, json={"shipping_address": ADDRESS}, headers=t)
    assert expect(r, 400) == {"error": "Only pending orders can be updated"}
    r = api.put(url, json={"status": "pending"}, headers=t)
    assert expect(r, 400) == {"error": "Only pending orders can be updated"}
    assert expect(api.delete(url, headers=t), 400) == {"error": "Only pending orders can be deleted"}
    assert stock_of(api, admin, p["id"]) == 10


def test_admin_status_transitions(api, user, admin):
    p = new_product(api, admin, price="1.00", stock=10)
    o = create_order(api, user, [{"product_id": p["id"], "quantity": 2}])
    url = f"{ORDERS}{o['id']}/"
    t = H(admin.access)
    got = expect(api.patch(url, json={"status": "processing",
                                      "shipping_address": OTHER_ADDRESS}, headers=t), 200)
    assert got["status"] == "processing" and got["shipping_address"] == OTHER_ADDRESS
    assert_order(got, user, [(product_now(api, admin, p["id"]), 2, "1.00")],
                 status="processing", address=OTHER_ADDRESS)
    # The customer can no longer change it.
    r = api.patch(url, json={"status": "cancelled"}, headers=H(user.access))
    assert expect(r, 400) == {"error": "Only pending orders can be updated"}
    r = api.patch(url, json={"status": "pending"}, headers=t)
    assert expect(r, 400) == {"status": ["Cannot change status from processing to pending."]}
    assert expect(api.patch(url, json={"status": "completed"}, headers=t), 200)["status"] == "completed"
    for status in ("pending", "processing", "cancelled"):
        r = api.patch(url, json={"status": status}, headers=t)
        assert expect(r, 400) == {"status": [f"Cannot change status from completed to {status}."]}
    # The same status is a no-op; addresses stay writable for admins.
    got = expect(api.put(url, json={"status": "completed", "billing_address": "B"}, headers=t), 200)
    assert got["status"] == "completed" and got["billing_address"] == "B"
    assert stock_of(api, admin, p["id"]) == 8  # a completed order keeps its stock


def test_delete_order(api, user, admin):
    p = new_product(api, admin, price="1.00", stock=10)
    o = create_order(api, user, [{"product_id": p["id"], "quantity": 4}])
    assert stock_of(api, admin, p["id"]) == 6
    r = api.delete(f"{ORDERS}{o['id']}/", headers=H(user.access))
    assert expect(r, 200) == {"message": "Order deleted successfully"}
    assert stock_of(api, admin, p["id"]) == 10  # given back
    assert expect(api.get(f"{ORDERS}{o['id']}/", headers=H(user.access)), 404) == NOT_FOUND
    assert expect(api.delete(f"{ORDERS}{o['id']}/", headers=H(user.access)), 404) == NOT_FOUND
    # Admins may delete any order, in any status; a completed order's stock stays sold.
    o = create_order(api, user, [{"product_id": p["id"], "quantity": 1}])
    expect(api.patch(f"{ORDERS}{o['id']}/", json={"status": "completed"},
                     headers=H(admin.access)), 200)
    r = api.delete(f"{ORDERS}{o['id']}/", headers=H(user.access))
    assert expect(r, 400) == {"error": "Only pending orders can be deleted"}
    r = api.delete(f"{ORDERS}{o['id']}/", headers=H(admin.access))
    assert expect(r, 200) == {"message": "Order deleted successfully"}
    assert stock_of(api, admin, p["id"]) == 9
    assert order_ids(api, user) == []


# ---------------------------------------------------------------------------
# 32: reports
# ---------------------------------------------------------------------------

def test_reports_need_an_admin(api, user):
    r = api.get(REPORTS, headers=H(user.access))
    assert expect(r, 403) == {"error": "Only admins can access reports"}


def test_reports_summary(make_server, create_admin):
    s = make_server()
    api = Api(s)
    email, password = unique_email("admin"), strong_password()
    create_admin(s, email, password)
    t = api.login(email, password)
    admin = User(t.user["id"], email, password, t.access, t.refresh)
    admin_token = t.access
    empty = api.get(REPORTS, headers=H(admin_token))
    assert expect(empty, 200) == {"total_orders": 0, "total_revenue": 0.0, "paid_orders": 0,
                                  "pending_orders": 0}
    assert '"total_revenue":0.00' in empty.text
    u = api.new_user()
    big = new_product(api, admin, price="62500.25", stock=10)
    small = new_product(api, admin, price="0.10", stock=10)
    paid = create_order(api, u, [{"product_id": big["id"], "quantity": 2}])       # 125000.50
    done = create_order(api, u, [{"product_id": small["id"], "quantity": 1}])     # 0.10
    create_order(api, u, [{"product_id": small["id"], "quantity": 3}])            # pending
    cancelled = create_order(api, u, [{"product_id": small["id"], "quantity": 1}])
    for o, status in ((paid, "completed"), (done, "processing"), (done, "completed"),
                      (cancelled, "cancelled")):
        expect(api.patch(f"{ORDERS}{o['id']}/", json={"status": status},
                         headers=H(admin_token)), 200)
    r = api.get(REPORTS, headers=H(admin_token))
    body = expect(r, 200)
    assert list(body) == ["total_orders", "total_revenue", "paid_orders", "pending_orders"]
    assert body == {"total_orders": 4, "total_revenue": 125000.60, "paid_orders": 2,
                    "pending_orders": 1}
    # A JSON number with two decimals, printed from minor units.
    assert '"total_revenue":125000.60' in r.text
    expect(api.delete(f"{ORDERS}{done['id']}/", headers=H(admin_token)), 200)
    r = api.get(REPORTS, headers=H(admin_token))
    assert '"total_revenue":125000.50' in r.text
    assert expect(r, 200)["total_orders"] == 3


# ---------------------------------------------------------------------------
# Idempotency-Key
# ---------------------------------------------------------------------------

def test_idempotent_order_create(api, user, admin):
    p = new_product(api, admin, price="4.00", stock=10)
    body = {"shipping_address": ADDRESS, "billing_address": ADDRESS,
            "items": [{"product_id": p["id"], "quantity": 2}]}
    key = "order-" + unique_hex()
    first = api.post(ORDERS, json=body, headers=H(user.access, key))
    expect(first, 201)
    set_stock(api, admin, p["id"], 20)  # the product changes: a replay still sends the first body
    again = api.post(ORDERS, json=body, headers=H(user.access, key))
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["Content-Type"].startswith("application/json")
    assert order_ids(api, user) == [first.json()["id"]]
    assert stock_of(api, admin, p["id"]) == 20
    # The same key with another body: 422, nothing done.
    other = dict(body, items=[{"product_id": p["id"], "quantity": 1}])
    r = api.post(ORDERS, json=other, headers=H(user.access, key))
    assert expect(r, 422) == IDEM_MISMATCH
    assert stock_of(api, admin, p["id"]) == 20
    # Keys are per user and per endpoint.
    other_user = api.new_user()
    r = api.post(ORDERS, json=body, headers=H(other_user.access, key))
    assert expect(r, 201)["id"] != first.json()["id"]
    # Without a key every request is a new order.
    create_order(api, user, body["items"])
    create_order(api, user, body["items"])
    assert len(order_ids(api, user)) == 3


def test_refused_request_with_a_key_runs_again(api, user, admin):
    p = new_product(api, admin, price="1.00", stock=1)
    key = "retry-" + unique_hex()
    items = [{"product_id": p["id"], "quantity": 2}]
    assert create_order(api, user, items, 400, key=key) == {"non_field_errors": ["Insufficient stock"]}
    set_stock(api, admin, p["id"], 2)
    o = create_order(api, user, items, 201, key=key)
    assert create_order(api, user, items, 201, key=key) == o
    assert stock_of(api, admin, p["id"]) == 0


def test_idempotent_checkout(api, user, admin):
    p = new_product(api, admin, price="9.99", stock=10)
    add(api, user, p["id"], 3)
    key = "checkout-" + unique_hex()
    body = {"shipping_address": ADDRESS, "billing_address": ADDRESS}
    first = api.post(CHECKOUT, json=body, headers=H(user.access, key))
    expect(first, 201)
    # The cart is empty now; the retry still gets the first answer, not "Cart is empty".
    again = api.post(CHECKOUT, json=body, headers=H(user.access, key))
    assert again.status_code == 201 and again.content == first.content
    assert order_ids(api, user) == [first.json()["id"]]
    assert stock_of(api, admin, p["id"]) == 7
    r = api.post(CHECKOUT, json=dict(body, clear_cart=False), headers=H(user.access, key))
    assert expect(r, 422) == IDEM_MISMATCH
    # The same key on POST /orders/ is another scope.
    items = [{"product_id": p["id"], "quantity": 1}]
    assert create_order(api, user, items, 201, key=key)["id"] != first.json()["id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9".encode("utf-8"), "a\tb"])
def test_invalid_idempotency_key(api, user, admin, key):
    p = new_product(api, admin, price="1.00", stock=5)
    add(api, user, p["id"], 1)
    for path, body in ((ORDERS, {"shipping_address": ADDRESS, "billing_address": ADDRESS,
                                 "items": [{"product_id": p["id"], "quantity": 1}]}),
                       (CHECKOUT, {"shipping_address": ADDRESS, "billing_address": ADDRESS})):
        r = api.post(path, json=body, headers=H(user.access, key))
        assert expect(r, 400) == IDEM_INVALID
    assert order_ids(api, user) == []
    assert stock_of(api, admin, p["id"]) == 5


def test_concurrent_retries_make_one_order(api, user, admin):
    p = new_product(api, admin, price="1.00", stock=100)
    body = {"shipping_address": ADDRESS, "billing_address": ADDRESS,
            "items": [{"product_id": p["id"], "quantity": 1}]}
    key = "burst-" + unique_hex()
    results = run_together(8, lambda i: api.post(ORDERS, json=body, headers=H(user.access, key)))
    assert [r.status_code for r in results] == [201] * 8
    assert len({r.content for r in results}) == 1
    assert len(order_ids(api, user)) == 1
    assert stock_of(api, admin, p["id"]) == 99


# ---------------------------------------------------------------------------
# THE RACE: 50 buyers, 10 units
# ---------------------------------------------------------------------------

def run_together(n, fn):
    """Runs fn(i) for i in range(n) on n threads released at once; the results in order."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def work(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as e:  # reported below, never lost in a thread
            results[i] = e

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    return results


@pytest.fixture(scope="module")
def buyers(server):
    api = Api(server)
    return [api.new_user() for _ in range(50)]


def test_race_for_the_last_units_through_checkout(api, admin, buyers):
    p = new_product(api, admin, price="10.00", stock=10)
    for b in buyers:
        add(api, b, p["id"], 1)
    body = {"shipping_address": ADDRESS, "billing_address": ADDRESS}
    results = run_together(len(buyers),
                           lambda i: api.post(CHECKOUT, json=body, headers=H(buyers[i].access)))
    codes = [r.status_code for r in results]
    assert codes.count(201) == 10 and codes.count(400) == 40, codes
    for r in results:
        if r.status_code == 400:
            assert r.json() == {"error": f"Insufficient stock for {p['name']}"}
        else:
            assert r.json()["items"][0]["quantity"] == 1
    assert stock_of(api, admin, p["id"]) == 0
    winners = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(winners) == 10
    # Losers keep their cart; winners' carts were cleared.
    for b, r in zip(buyers, results):
        expected = [] if r.status_code == 201 else [1]
        assert [i["quantity"] for i in cart_of(api, b)["items"]] == expected
        expect(api.delete(CART, headers=H(b.access)), 200)


def test_race_for_the_last_units_through_orders(api, admin, buyers):
    p = new_product(api, admin, price="10.00", stock=10)
    body = {"shipping_address": ADDRESS, "billing_address": ADDRESS,
            "items": [{"product_id": p["id"], "quantity": 1}]}
    results = run_together(len(buyers),
                           lambda i: api.post(ORDERS, json=body, headers=H(buyers[i].access)))
    codes = [r.status_code for r in results]
    assert codes.count(201) == 10 and codes.count(400) == 40, codes
    for r in results:
        if r.status_code == 400:
            assert r.json() == {"non_field_errors": ["Insufficient stock"]}
    assert stock_of(api, admin, p["id"]) == 0
    numbers = {r.json()["order_number"] for r in results if r.status_code == 201}
    assert len(numbers) == 10
