"""/api/cart/ and /api/orders/: the cart and the orders module of seed document 002
(surface `shop`).

Walks every request and error of the cart (add, retrieve, update, delete, clear, summary,
validate) and of the orders (checkout with GST and the simulated payment, history, detail,
cancel, invoice PDF), the emails an order sends (over real SMTP: confirmation with text,
HTML and the PDF invoice attached; cancellation), email preferences, Idempotency-Key, and
the race of many checkouts for the last units of stock.

Customers register through /api/v1/auth/register/ (fast) and are marked verified with one
SQL statement: this surface's protected routes need a verified email, and the verification
flow itself is tested in test_shop_users.py.
"""

import re
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from shopdtest import (Api, Server, expect, mail_attachments, mail_html, mail_text,
                       strong_password, unique_email, unique_hex)

ADD = "/api/cart/add_to_cart/"
RETRIEVE = "/api/cart/retrieve_cart/"
CLEAR = "/api/cart/clear_cart/"
SUMMARY = "/api/cart/cart_summary/"
VALIDATE = "/api/cart/validate_cart/"
CHECKOUT = "/api/orders/checkout/"
HISTORY = "/api/orders/history/"
CATEGORIES = "/api/categories/"
PRODUCTS = "/api/products/"
ADDRESSES = "/api/users/addresses/"
PREFERENCES = "/api/accounts/email-preferences/"

ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ORDER_RE = re.compile(r"^ORD-[A-Z0-9]{8}$")
ADDRESS = {"address_line1": "12 Market Road", "address_line2": "Floor 2", "city": "Pune",
           "state": "Maharashtra", "country": "India", "postal_code": "411001"}

NO_PRODUCT_ID = {"error": "Product not found"}
NO_PRICE_WEIGHT = {"error": "Price and weight must be provided"}
NO_PRODUCT = {"error": "Product does not exist or is inactive."}
NO_VARIANT = {"error": "Selected price-weight combination does not exist."}
BAD_QUANTITY = {"error": "Quantity must be a positive integer."}
NO_STOCK = {"error": "Insufficient stock available."}
CART_NOT_FOUND = {"error": "Cart not found"}
ITEM_NOT_FOUND = {"error": "Cart item not found"}
CART_EMPTY = {"error": "Cart is empty"}
NOTHING_TO_UPDATE = {"error": "Provide quantity and/or price_weight."}
STOCK_PROBLEMS = "Not enough stock for the following items"
ADDRESS_REQUIRED = {"error": "address_id is required"}
ADDRESS_NOT_FOUND = {"error": "Address not found"}
ORDER_NOT_FOUND = {"error": "Order not found"}
NOT_CANCELLABLE = {"error": "Only PENDING or PROCESSING orders can be cancelled."}
PAYMENT_FAILED_DETAIL = ("The payment was declined. No stock was taken and your cart was "
                         "kept; you can try again.")
IDEM_MISMATCH = {"error": "Idempotency-Key was already used with a different request."}
IDEM_INVALID = {"error": "Invalid Idempotency-Key header."}
NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}
NO_PERMISSION = {"detail": "You do not have permission to perform this action."}


def item_path(item_id, action):
    return f"/api/cart/{item_id}/{action}/"


def order_path(number, action=""):
    return f"/api/orders/orders/{number}/" + (f"{action}/" if action else "")


class Customer:
    def __init__(self, shop, uid, email, access):
        self.shop, self.id, self.email, self.access = shop, uid, email, access
        self.h = Api.auth(access)
        self._address = None

    def get(self, path, **kw):
        return self.shop.api.get(path, headers=self.h, **kw)

    def post(self, path, json=None, headers=None, **kw):
        h = dict(self.h)
        h.update(headers or {})
        return self.shop.api.post(path, json=json, headers=h, **kw)

    def put(self, path, json=None):
        return self.shop.api.put(path, json=json, headers=self.h)

    def patch(self, path, json=None):
        return self.shop.api.patch(path, json=json, headers=self.h)

    def delete(self, path):
        return self.shop.api.delete(path, headers=self.h)

    def add(self, product, index=0, quantity=None):
        pw = product["price_weights"][index]
        body = {"product_id": product["id"],
                "price_weight": {"price": pw["price"], "weight": pw["weight"]}}
        if quantity is not None:
            body["quantity"] = quantity
        return self.post(ADD, json=body)

    def added(self, product, index=0, quantity=None):
        assert expect(self.add(product, index, quantity), 201) == {"status": "Added to cart"}

    def cart(self):
        return expect(self.get(RETRIEVE), 200)

    def address(self):
        if self._address is None:
            [created] = expect(self.post(ADDRESSES, json=ADDRESS), 201)
            self._address = created["id"]
        return self._address

    def checkout(self, simulate_failure=None, headers=None, address_id=None):
        body = {"address_id": address_id if address_id is not None else self.address()}
        if simulate_failure is not None:
            body["payment_data"] = {"simulate_failure": simulate_failure}
        return self.post(CHECKOUT, json=body, headers=headers)

    def order(self):
        """Checks out successfully; returns the 201 body."""
        return expect(self.checkout(simulate_failure=False), 201)


class Shop:
    def __init__(self, server):
        self.server = server
        self.api = Api(server)
        email, password = unique_email("admin"), strong_password()
        r = server.cli("createsuperuser", "--username", "admin_" + unique_hex(8), "--email",
                       email, "--password", password)
        assert r.returncode == 0, r.stderr
        self.admin = Api.auth(self.api.login(email, password).access)
        self.category = expect(self.api.post(CATEGORIES, json={"name": "Cat " + unique_hex(8)},
                                             headers=self.admin), 201)

    def customer(self):
        u = self.api.new_user()
        self.server.sql(f"UPDATE users SET email_verified = TRUE WHERE id = {int(u.id)}")
        return Customer(self, u.id, u.email, u.access)

    def product(self, variants=(("2200.00", "100gms", 20),), **fields):
        body = {"name": "Prod " + unique_hex(8), "description": "a product",
                "category": self.category["id"],
                "price_weights": [{"price": p, "weight": w, "inventory": n}
                                  for p, w, n in variants]}
        body.update(fields)
        return expect(self.api.post(PRODUCTS, json=body, headers=self.admin), 201)

    def reload(self, product):
        return expect(self.api.get(f"{PRODUCTS}{product['id']}/", headers=self.admin), 200)

    def stock(self, product):
        return [pw["inventory"] for pw in self.reload(product)["price_weights"]]

    def set_variants(self, product, variants):
        """Replaces the variants position by position (ids kept)."""
        body = {"price_weights": [{"price": p, "weight": w, "inventory": n}
                                  for p, w, n in variants]}
        r = self.api.patch(f"{PRODUCTS}{product['id']}/", json=body, headers=self.admin)
        expect(r, 200)

    def deactivate(self, product):
        r = self.api.patch(f"{PRODUCTS}{product['id']}/", json={"is_active": False},
                           headers=self.admin)
        expect(r, 200)


@pytest.fixture(scope="module")
def srv():
    s = Server(env={"SHOPD_RATE_LIMITS": "*=100000/60"}, name="shop-orders")
    try:
        s.start()
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def shop(srv):
    return Shop(srv)


@pytest.fixture
def alice(shop):
    return shop.customer()


def pdf_text(data):
    assert data.startswith(b"%PDF-"), data[:20]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "invoice.pdf"
        p.write_bytes(data)
        r = subprocess.run(["pdftotext", "-layout", str(p), "-"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout


# ---------------------------------------------------------------------------
# Who may use the cart
# ---------------------------------------------------------------------------

def test_cart_and_orders_need_a_verified_user(shop):
    for method, path in [("GET", RETRIEVE), ("POST", ADD), ("GET", SUMMARY), ("POST", CHECKOUT),
                         ("GET", HISTORY), ("GET", order_path("ORD-AAAAAAAA"))]:
        r = shop.api.request(method, path, json={})
        assert expect(r, 401) == NOT_PROVIDED, (method, path)
    unverified = shop.api.new_user()
    r = shop.api.get(RETRIEVE, headers=Api.auth(unverified.access))
    assert expect(r, 403) == NO_PERMISSION


# ---------------------------------------------------------------------------
# Add, retrieve
# ---------------------------------------------------------------------------

def test_add_and_retrieve_the_documented_shape(shop, alice):
    assert expect(alice.get(RETRIEVE), 404) == CART_NOT_FOUND
    p = shop.product(variants=(("2200.00", "100gms", 20), ("2100.00", "102gms", 0)),
                     image_urls=["/media/products/2/bg-fur.webp"])
    alice.added(p)  # quantity defaults to 1
    cart = alice.cart()
    assert ISO_RE.match(cart["created_at"]) and ISO_RE.match(cart["updated_at"]), cart
    [item] = cart["items"]
    assert isinstance(cart["cart_id"], int) and isinstance(item["cart_item_id"], int)
    assert cart == {
        "cart_id": cart["cart_id"],
        "user": alice.id,
        "items": [{
            "cart_item_id": item["cart_item_id"],
            "product": {"product_id": p["id"], "name": p["name"],
                        "category_id": shop.category["id"], "inventory": 20,
                        "images": [{"image_url": "/media/products/2/bg-fur.webp",
                                    "description": ""}],
                        "is_active": True, "status": "In stock"},
            "selected_price_weight": {"price": "2200.00", "weight": "100gms"},
            "quantity": 1,
            "total_price": 2200.0,
        }],
        "created_at": cart["created_at"],
        "updated_at": cart["updated_at"],
    }
    # total_price is a JSON number as the document prints it.
    assert '"total_price":2200.0' in alice.get(RETRIEVE).text


def test_line_total_is_a_number_with_cents(shop, alice):
    p = shop.product(variants=(("10.99", "1kg", 50), ("5.50", "500g", 50)))
    alice.added(p, 0, 3)
    alice.added(p, 1, 1)
    text = alice.get(RETRIEVE).text
    assert '"total_price":32.97' in text and '"total_price":5.5' in text, text


def test_add_same_variant_sums_and_checks_stock_on_the_sum(shop, alice):
    p = shop.product(variants=(("50.00", "1kg", 5),))
    alice.added(p, quantity=2)
    alice.added(p, quantity=3)
    [item] = alice.cart()["items"]
    assert item["quantity"] == 5
    assert expect(alice.add(p, quantity=1), 400) == NO_STOCK
    assert alice.cart()["items"][0]["quantity"] == 5


def test_add_errors(shop, alice):
    p = shop.product(variants=(("2200.00", "100gms", 3),))
    pw = {"price": "2200.00", "weight": "100gms"}
    cases = [
        ({"price_weight": pw}, 400, NO_PRODUCT_ID),
        ({"product_id": "abc", "price_weight": pw}, 400, NO_PRODUCT_ID),
        ({"product_id": None, "price_weight": pw}, 400, NO_PRODUCT_ID),
        ({"product_id": 1.5, "price_weight": pw}, 400, NO_PRODUCT_ID),
        ({"product_id": p["id"]}, 400, NO_PRICE_WEIGHT),
        ({"product_id": p["id"], "price_weight": "2200-100gms"}, 400, NO_PRICE_WEIGHT),
        ({"product_id": p["id"], "price_weight": {"price": "2200.00"}}, 400, NO_PRICE_WEIGHT),
        ({"product_id": p["id"], "price_weight": {"weight": "100gms"}}, 400, NO_PRICE_WEIGHT),
        ({"product_id": p["id"], "price_weight": {"price": "", "weight": "100gms"}}, 400,
         NO_PRICE_WEIGHT),
        ({"product_id": 999999999, "price_weight": pw}, 404, NO_PRODUCT),
        ({"product_id": p["id"], "price_weight": {"price": "2100.00", "weight": "100gms"}}, 404,
         NO_VARIANT),
        ({"product_id": p["id"], "price_weight": {"price": "2200.00", "weight": "1kg"}}, 404,
         NO_VARIANT),
        ({"product_id": p["id"], "price_weight": {"price": "abc", "weight": "100gms"}}, 404,
         NO_VARIANT),
        ({"product_id": p["id"], "price_weight": pw, "quantity": 0}, 400, BAD_QUANTITY),
        ({"product_id": p["id"], "price_weight": pw, "quantity": -2}, 400, BAD_QUANTITY),
        ({"product_id": p["id"], "price_weight": pw, "quantity": "two"}, 400, BAD_QUANTITY),
        ({"product_id": p["id"], "price_weight": pw, "quantity": 10**12}, 400, BAD_QUANTITY),
        ({"product_id": p["id"], "price_weight": pw, "quantity": 4}, 400, NO_STOCK),
    ]
    for body, status, answer in cases:
        assert expect(alice.post(ADD, json=body), status) == answer, body
    # Nothing was written by any refusal: the user still has no cart.
    assert expect(alice.get(RETRIEVE), 404) == CART_NOT_FOUND
    # The same price written as a number, and ids and quantities as text, are read too.
    body = {"product_id": str(p["id"]), "quantity": "2",
            "price_weight": {"price": 2200, "weight": " 100gms "}}
    assert expect(alice.post(ADD, json=body), 201) == {"status": "Added to cart"}
    assert alice.cart()["items"][0]["quantity"] == 2


def test_add_inactive_product_is_404(shop, alice):
    p = shop.product()
    shop.deactivate(p)
    assert expect(alice.add(p), 404) == NO_PRODUCT


# ---------------------------------------------------------------------------
# Update, delete, clear
# ---------------------------------------------------------------------------

def test_update_quantity_and_price_weight(shop, alice):
    p = shop.product(variants=(("2200.00", "100gms", 10), ("2100.00", "102gms", 4)))
    alice.added(p, 0, 1)
    [item] = alice.cart()["items"]
    path = item_path(item["cart_item_id"], "update_cart_item")
    assert expect(alice.put(path, {"quantity": 3}), 200) == {"status": "Cart item updated"}
    assert alice.cart()["items"][0]["quantity"] == 3
    # Only the price-weight: the quantity stays.
    r = alice.put(path, {"price_weight": {"price": "2100.00", "weight": "102gms"}})
    assert expect(r, 200) == {"status": "Cart item updated"}
    [item] = alice.cart()["items"]
    assert item["selected_price_weight"] == {"price": "2100.00", "weight": "102gms"}
    assert item["quantity"] == 3 and item["total_price"] == 6300.0
    assert item["product"]["inventory"] == 4
    # PATCH does the same; both at once.
    r = alice.patch(path, {"quantity": 2, "price_weight": {"price": "2200.00",
                                                           "weight": "100gms"}})
    assert expect(r, 200) == {"status": "Cart item updated"}
    [item] = alice.cart()["items"]
    assert (item["selected_price_weight"]["price"], item["quantity"]) == ("2200.00", 2)


def test_update_to_a_variant_already_in_the_cart_merges(shop, alice):
    p = shop.product(variants=(("10.00", "1kg", 10), ("20.00", "2kg", 10)))
    alice.added(p, 0, 2)
    alice.added(p, 1, 3)
    first, second = alice.cart()["items"]
    r = alice.put(item_path(first["cart_item_id"], "update_cart_item"),
                  {"price_weight": {"price": "20.00", "weight": "2kg"}})
    assert expect(r, 200) == {"status": "Cart item updated"}
    [merged] = alice.cart()["items"]
    assert merged["cart_item_id"] == first["cart_item_id"]
    assert merged["selected_price_weight"] == {"price": "20.00", "weight": "2kg"}
    assert merged["quantity"] == 5
    assert expect(alice.delete(item_path(second["cart_item_id"], "delete_cart_item")),
                  404) == ITEM_NOT_FOUND


def test_update_errors(shop, alice):
    p = shop.product(variants=(("2100.00", "102gms", 5), ("2200.00", "100gms", 5),
                               ("2000.00", "100gms", 5)))
    alice.added(p, 0, 1)
    [item] = alice.cart()["items"]
    path = item_path(item["cart_item_id"], "update_cart_item")
    r = alice.put(path, {"price_weight": {"price": "2100.00", "weight": "999gms"}})
    assert expect(r, 404) == {
        "error": "Price-weight combination not found",
        "available_combinations": [{"price": "2100.00", "weight": "102gms"},
                                   {"price": "2200.00", "weight": "100gms"},
                                   {"price": "2000.00", "weight": "100gms"}]}
    assert expect(alice.put(path, {}), 400) == NOTHING_TO_UPDATE
    assert expect(alice.put(path, {"price_weight": None}), 400) == NOTHING_TO_UPDATE
    assert expect(alice.put(path, {"price_weight": {"price": "2100.00"}}), 400) == NO_PRICE_WEIGHT
    for q in (0, -1, "x", None, 2.5):
        assert expect(alice.put(path, {"quantity": q}), 400) == BAD_QUANTITY, q
    assert expect(alice.put(path, {"quantity": 6}), 400) == {
        "error": f"Not enough stock for {p['name']}"}
    assert alice.cart()["items"][0]["quantity"] == 1
    # Unknown lines and another user's line are not found, whatever the body.
    assert expect(alice.put(item_path(999999999, "update_cart_item"), {"quantity": 1}),
                  404) == ITEM_NOT_FOUND
    bob = shop.customer()
    assert expect(bob.put(path, {"quantity": 2}), 404) == ITEM_NOT_FOUND
    assert expect(bob.put(path, {}), 404) == ITEM_NOT_FOUND
    assert expect(bob.delete(item_path(item["cart_item_id"], "delete_cart_item")),
                  404) == ITEM_NOT_FOUND
    assert alice.cart()["items"][0]["quantity"] == 1


def test_delete_and_clear(shop, alice):
    p = shop.product(variants=(("10.00", "1kg", 10), ("20.00", "2kg", 10)))
    alice.added(p, 0)
    alice.added(p, 1)
    first, second = alice.cart()["items"]
    path = item_path(first["cart_item_id"], "delete_cart_item")
    assert expect(alice.delete(path), 200) == {"status": "Item removed from cart"}
    assert expect(alice.delete(path), 404) == ITEM_NOT_FOUND
    assert [i["cart_item_id"] for i in alice.cart()["items"]] == [second["cart_item_id"]]
    assert expect(alice.post(CLEAR), 200) == {"status": "Cart cleared"}
    cart = alice.cart()
    assert cart["items"] == []
    # Clearing a cart that does not exist is no error either.
    assert expect(shop.customer().post(CLEAR), 200) == {"status": "Cart cleared"}


# ---------------------------------------------------------------------------
# Summary and validation
# ---------------------------------------------------------------------------

def test_summary(shop, alice):
    assert expect(alice.get(SUMMARY), 200) == {
        "cart_id": None, "total_items": 0, "total_quantity": 0, "subtotal": "0.00",
        "gst": "0.00", "grand_total": "0.00"}
    p = shop.product(variants=(("1000.00", "1kg", 10), ("200.00", "200g", 10)))
    alice.added(p, 0, 2)
    alice.added(p, 1, 1)
    cart_id = alice.cart()["cart_id"]
    assert expect(alice.get(SUMMARY), 200) == {
        "cart_id": cart_id, "total_items": 2, "total_quantity": 3, "subtotal": "2200.00",
        "gst": "396.00", "grand_total": "2596.00"}


def test_validate(shop, alice):
    assert expect(alice.post(VALIDATE), 404) == CART_NOT_FOUND
    p = shop.product(variants=(("10.00", "200g", 5), ("20.00", "1kg", 5)))
    q = shop.product(variants=(("30.00", "500g", 5),))
    alice.added(p, 0, 3)
    alice.added(p, 1, 2)
    alice.added(q, 0, 1)
    assert expect(alice.post(VALIDATE), 200) == {"status": "Cart is valid"}
    shop.set_variants(p, (("10.00", "200g", 1), ("20.00", "1kg", 5)))
    shop.deactivate(q)
    assert expect(alice.post(VALIDATE), 400) == {
        "error": STOCK_PROBLEMS,
        "details": [f"{p['name']} (200g) (Requested: 3, Available: 1)",
                    f"{q['name']} (500g) (No longer available)"]}
    expect(alice.post(CLEAR), 200)
    assert expect(alice.post(VALIDATE), 400) == CART_EMPTY


# ---------------------------------------------------------------------------
# Checkout
# ---------------------------------------------------------------------------

def test_checkout_creates_the_order_takes_stock_and_clears_the_cart(shop, alice):
    p = shop.product(variants=(("1000.00", "1kg", 10), ("200.00", "200g", 10)))
    alice.added(p, 0, 2)
    alice.added(p, 1, 1)
    address = alice.address()
    order = alice.order()
    assert ORDER_RE.match(order["order_number"]), order
    assert ISO_RE.match(order["created_at"]), order
    assert order == {
        "order_number": order["order_number"], "user": alice.id, "address": address,
        "total_price": "2596.00", "subtotal": "2200.00", "gst": "396.00",
        "grand_total": "2596.00", "payment_status": "COMPLETED", "status": "PROCESSING",
        "items": [
            {"product_id": p["id"], "product_name": p["name"], "weight": "1kg", "quantity": 2,
             "unit_price": "1000.00", "total_price": "2000.00"},
            {"product_id": p["id"], "product_name": p["name"], "weight": "200g", "quantity": 1,
             "unit_price": "200.00", "total_price": "200.00"}],
        "created_at": order["created_at"]}
    assert shop.stock(p) == [8, 9]
    assert alice.cart()["items"] == []
    assert expect(alice.get(SUMMARY), 200)["subtotal"] == "0.00"

    detail = expect(alice.get(order_path(order["order_number"])), 200)
    assert ISO_RE.match(detail["updated_at"]), detail
    expected = dict(order)
    expected["shipping_address"] = detail["shipping_address"]
    expected["updated_at"] = detail["updated_at"]
    assert detail == expected
    for part in ("12 Market Road", "Pune", "411001", "India"):
        assert part in detail["shipping_address"], detail["shipping_address"]

    history = expect(alice.get(HISTORY), 200)
    assert history == [{"order_number": order["order_number"], "total_price": "2596.00",
                        "status": "PROCESSING", "payment_status": "COMPLETED",
                        "created_at": order["created_at"]}]


def test_gst_rounds_half_up(shop, alice):
    # 0.25 -> 18 % is 0.045 -> 0.05; 3 x 10.03 = 30.09 -> 5.4162 -> 5.42
    p = shop.product(variants=(("0.25", "1 unit", 10), ("10.03", "1kg", 10)))
    alice.added(p, 0, 1)
    summary = expect(alice.get(SUMMARY), 200)
    assert (summary["subtotal"], summary["gst"], summary["grand_total"]) == (
        "0.25", "0.05", "0.30")
    order = alice.order()
    assert (order["subtotal"], order["gst"], order["grand_total"], order["total_price"]) == (
        "0.25", "0.05", "0.30", "0.30")
    alice.added(p, 1, 3)
    order = alice.order()
    assert (order["subtotal"], order["gst"], order["grand_total"]) == ("30.09", "5.42", "35.51")


def test_checkout_errors(shop, alice):
    address = alice.address()
    for body in ({}, {"address_id": None}, {"address_id": "x"}, {"address_id": 0},
                 {"address_id": [1]}):
        assert expect(alice.post(CHECKOUT, json=body), 400) == ADDRESS_REQUIRED, body
    # No cart at all, then an empty cart.
    assert expect(alice.checkout(), 400) == CART_EMPTY
    p = shop.product(variants=(("10.00", "200g", 2),))
    alice.added(p, 0, 2)
    expect(alice.post(CLEAR), 200)
    assert expect(alice.checkout(), 400) == CART_EMPTY
    alice.added(p, 0, 2)
    # Another user's address, and none.
    bob = shop.customer()
    assert expect(alice.checkout(address_id=bob.address()), 404) == ADDRESS_NOT_FOUND
    assert expect(alice.checkout(address_id=999999999), 404) == ADDRESS_NOT_FOUND
    for pd in ("yes", [1], {"simulate_failure": "maybe"}):
        r = alice.post(CHECKOUT, json={"address_id": address, "payment_data": pd})
        assert expect(r, 400)["error"], pd
    # Stock went down since the line was added.
    shop.set_variants(p, (("10.00", "200g", 1),))
    assert expect(alice.checkout(), 400) == {
        "error": STOCK_PROBLEMS,
        "details": [f"{p['name']} (200g) (Requested: 2, Available: 1)"]}
    assert shop.stock(p) == [1]
    assert len(alice.cart()["items"]) == 1
    assert expect(alice.get(HISTORY), 200) == []


def test_payment_failure_keeps_stock_and_cart(shop, alice, mailbox):
    p = shop.product(variants=(("100.00", "1kg", 5),))
    alice.added(p, 0, 2)
    mark = mailbox.mark()
    r = alice.checkout(simulate_failure=True)
    failed = expect(r, 400)
    assert ORDER_RE.match(failed.get("order_number", "")), failed
    assert failed == {"error": "Payment failed", "detail": PAYMENT_FAILED_DETAIL,
                      "order_number": failed["order_number"], "payment_status": "FAILED"}
    assert shop.stock(p) == [5]
    assert [i["quantity"] for i in alice.cart()["items"]] == [2]
    [h] = expect(alice.get(HISTORY), 200)
    assert (h["order_number"], h["status"], h["payment_status"]) == (
        failed["order_number"], "CANCELLED", "FAILED")
    detail = expect(alice.get(order_path(failed["order_number"])), 200)
    assert (detail["status"], detail["payment_status"]) == ("CANCELLED", "FAILED")
    # A failed order cannot be cancelled again.
    assert expect(alice.post(order_path(failed["order_number"], "cancel")), 400) == \
        NOT_CANCELLABLE
    # Trying again works; the first email this user gets is the second order's: the failed
    # one sent none.
    order = alice.order()
    assert shop.stock(p) == [3]
    msg = mailbox.wait_for(alice.email, "ORD-", since=mark)
    assert order["order_number"] in str(msg["Subject"]), msg["Subject"]
    assert failed["order_number"] not in mail_text(msg)


def test_confirmation_email_with_invoice(shop, alice, mailbox):
    p = shop.product(variants=(("1000.00", "1kg", 10), ("200.00", "200g", 10)))
    alice.added(p, 0, 2)
    alice.added(p, 1, 1)
    order = alice.order()
    number = order["order_number"]
    msg = mailbox.wait_for(alice.email, number)
    text, html = mail_text(msg), mail_html(msg)
    for body in (text, html):
        assert number in body and p["name"] in body and "2596.00" in body, body
    [(filename, ctype, data)] = mail_attachments(msg)
    assert (filename, ctype) == (f"invoice-{number}.pdf", "application/pdf")
    invoice = pdf_text(data)
    for s in (number, p["name"], "2200.00", "396.00", "2596.00", "Subtotal", "GST"):
        assert s in invoice, (s, invoice)


def test_invoice_download(shop, alice):
    p = shop.product(variants=(("1000.00", "1kg", 10), ("200.00", "200g", 10)))
    alice.added(p, 0, 2)
    alice.added(p, 1, 1)
    number = alice.order()["order_number"]
    r = alice.get(order_path(number, "invoice"))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"] == f'attachment; filename="invoice-{number}.pdf"'
    invoice = pdf_text(r.content)
    for s in (number, p["name"], "1kg", "200g", "Subtotal", "2200.00", "GST", "396.00",
              "Grand total", "2596.00"):
        assert s in invoice, (s, invoice)
    # Another customer: 404 as for an unknown number; an admin may download it.
    bob = shop.customer()
    assert expect(bob.get(order_path(number, "invoice")), 404) == ORDER_NOT_FOUND
    assert expect(alice.get(order_path("ORD-ZZZZZZZZ", "invoice")), 404) == ORDER_NOT_FOUND
    r = shop.api.get(order_path(number, "invoice"), headers=shop.admin)
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")


def test_orders_of_others_are_not_found(shop, alice):
    p = shop.product()
    alice.added(p)
    number = alice.order()["order_number"]
    bob = shop.customer()
    assert expect(bob.get(order_path(number)), 404) == ORDER_NOT_FOUND
    assert expect(bob.post(order_path(number, "cancel")), 404) == ORDER_NOT_FOUND
    assert expect(bob.get(HISTORY), 200) == []
    assert expect(alice.get(order_path("ORD-ZZZZZZZZ")), 404) == ORDER_NOT_FOUND
    assert expect(alice.post(order_path("nonsense", "cancel")), 404) == ORDER_NOT_FOUND
    # Admins see every order.
    detail = expect(shop.api.get(order_path(number), headers=shop.admin), 200)
    assert (detail["order_number"], detail["user"]) == (number, alice.id)


def test_history_newest_first(shop, alice):
    p = shop.product(variants=(("10.00", "1kg", 10),))
    numbers = []
    for q in (1, 2, 3):
        alice.added(p, 0, q)
        numbers.append(alice.order()["order_number"])
    history = expect(alice.get(HISTORY), 200)
    assert [h["order_number"] for h in history] == numbers[::-1]
    assert [h["total_price"] for h in history] == ["35.40", "23.60", "11.80"]
    for h in history:
        assert set(h) == {"order_number", "total_price", "status", "payment_status",
                          "created_at"}


def test_prices_are_copied_into_the_order(shop, alice):
    p = shop.product(variants=(("2200.00", "100gms", 10),), name="Copied " + unique_hex(8))
    alice.added(p, 0, 1)
    order = alice.order()
    before = expect(alice.get(order_path(order["order_number"])), 200)
    shop.set_variants(p, (("9999.00", "5kg", 9),))
    r = shop.api.patch(f"{PRODUCTS}{p['id']}/", json={"name": "Renamed " + unique_hex(8)},
                       headers=shop.admin)
    expect(r, 200)
    after = expect(alice.get(order_path(order["order_number"])), 200)
    assert after == before
    assert after["items"][0]["unit_price"] == "2200.00"
    assert after["items"][0]["weight"] == "100gms"
    assert after["items"][0]["product_name"] == p["name"]


# ---------------------------------------------------------------------------
# Cancel
# ---------------------------------------------------------------------------

def test_cancel_gives_stock_back_once_and_emails(shop, alice, mailbox):
    p = shop.product(variants=(("100.00", "1kg", 10),))
    alice.added(p, 0, 4)
    number = alice.order()["order_number"]
    assert shop.stock(p) == [6]
    r = alice.post(order_path(number, "cancel"))
    assert expect(r, 200) == {"status": "Order cancelled", "order_number": number,
                              "order_status": "CANCELLED"}
    assert shop.stock(p) == [10]
    assert expect(alice.post(order_path(number, "cancel")), 400) == NOT_CANCELLABLE
    assert shop.stock(p) == [10]
    detail = expect(alice.get(order_path(number)), 200)
    assert (detail["status"], detail["payment_status"]) == ("CANCELLED", "REFUNDED")
    # The confirmation and the cancellation, in whichever order the outbox sent them.
    msgs = [mailbox.wait_for(alice.email, number), mailbox.wait_for(alice.email, number)]
    cancellations = [m for m in msgs if "cancel" in str(m["Subject"]).lower()]
    assert len(cancellations) == 1, [str(m["Subject"]) for m in msgs]
    assert number in mail_text(cancellations[0])
    assert mail_attachments(cancellations[0]) == []


def test_concurrent_cancels_give_stock_back_once(shop, alice):
    p = shop.product(variants=(("100.00", "1kg", 10),))
    alice.added(p, 0, 3)
    number = alice.order()["order_number"]
    results = []
    barrier = threading.Barrier(8)

    def cancel():
        barrier.wait()
        results.append(alice.post(order_path(number, "cancel")).status_code)

    threads = [threading.Thread(target=cancel) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [400] * 7, results
    assert shop.stock(p) == [10]


# ---------------------------------------------------------------------------
# Email preferences
# ---------------------------------------------------------------------------

def test_no_confirmation_when_the_user_turned_it_off(shop, alice, srv, mailbox):
    r = alice.patch(PREFERENCES, {"order_confirmation": False})
    assert r.status_code == 200, r.text
    p = shop.product()
    alice.added(p)
    mark = mailbox.mark()
    order = alice.order()
    number = order["order_number"]
    # The cancellation (order_status_update is still on) is the first email this user gets,
    # and the outbox never held a confirmation for this order.
    expect(alice.post(order_path(number, "cancel")), 200)
    msg = mailbox.wait_for(alice.email, "ORD-", since=mark)
    assert number in str(msg["Subject"]) and "cancel" in str(msg["Subject"]).lower()
    assert mail_attachments(msg) == []
    order_id = srv.sql("SELECT id FROM orders WHERE order_number = "
                       f"'{number}'")[0][0]
    events = [j["payload"] for j in srv.jobs("order_mail")
              if re.search(r'"order"\s*:\s*' + order_id + r'\b', j["payload"])]
    assert len(events) == 1 and "cancelled" in events[0], events


# ---------------------------------------------------------------------------
# Idempotency-Key
# ---------------------------------------------------------------------------

def test_idempotent_checkout(shop, alice):
    p = shop.product(variants=(("10.00", "1kg", 10),))
    alice.added(p, 0, 2)
    key = {"Idempotency-Key": "checkout-" + unique_hex(16)}
    body = {"address_id": alice.address(), "payment_data": {"simulate_failure": False}}
    first = alice.post(CHECKOUT, json=body, headers=key)
    expect(first, 201)
    # The cart is empty now, yet the retry gets the first answer, byte for byte.
    again = alice.post(CHECKOUT, json=body, headers=key)
    assert again.status_code == 201
    assert again.content == first.content
    assert len(expect(alice.get(HISTORY), 200)) == 1
    assert shop.stock(p) == [8]
    # The same key with another request.
    other = dict(body, payment_data={"simulate_failure": True})
    assert expect(alice.post(CHECKOUT, json=other, headers=key), 422) == IDEM_MISMATCH
    # Keys belong to their user: another user's same key is a fresh request.
    bob = shop.customer()
    assert expect(bob.post(CHECKOUT, json={"address_id": bob.address()}, headers=key),
                  400) == CART_EMPTY
    # A refused request stores nothing: after filling the cart, the same key works.
    bob.added(p, 0, 1)
    assert expect(bob.post(CHECKOUT, json={"address_id": bob.address()}, headers=key),
                  201)["items"][0]["quantity"] == 1
    for bad in ("", "x" * 256, "tab\there"):
        r = alice.post(CHECKOUT, json=body, headers={"Idempotency-Key": bad})
        assert expect(r, 400) == IDEM_INVALID, repr(bad)


def test_idempotent_payment_failure_is_replayed(shop, alice):
    p = shop.product(variants=(("10.00", "1kg", 10),))
    alice.added(p, 0, 1)
    key = {"Idempotency-Key": unique_hex(20)}
    first = alice.checkout(simulate_failure=True, headers=key)
    expect(first, 400)
    again = alice.checkout(simulate_failure=True, headers=key)
    assert (again.status_code, again.content) == (400, first.content)
    assert len(expect(alice.get(HISTORY), 200)) == 1


# ---------------------------------------------------------------------------
# The race for the last units
# ---------------------------------------------------------------------------

def test_fifty_checkouts_for_the_last_ten_units(shop):
    p = shop.product(variants=(("5.00", "1kg", 10),))
    customers = [shop.customer() for _ in range(50)]
    for c in customers:
        c.added(p, 0, 1)
        c.address()
    barrier = threading.Barrier(len(customers))
    results = [None] * len(customers)

    def run(i, c):
        barrier.wait()
        r = c.checkout(simulate_failure=False)
        results[i] = (r.status_code, r.json())

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(customers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = [r[0] for r in results]
    assert codes.count(201) == 10, codes
    assert codes.count(400) == 40, codes
    for status, body in results:
        if status == 400:
            assert body == {"error": STOCK_PROBLEMS, "details": [
                f"{p['name']} (1kg) (Requested: 1, Available: 0)"]}, body
    assert shop.stock(p) == [0]
    numbers = {body["order_number"] for status, body in results if status == 201}
    assert len(numbers) == 10


def test_checkout_total_too_large_is_a_400(shop, alice):
    p = shop.product(variants=(("9999999999999.99", "1kg", 1000000),))
    alice.added(p, 0, 1000000)
    assert expect(alice.get(SUMMARY), 400) == {"error": "The order total is too large."}
    assert expect(alice.checkout(), 400) == {"error": "The order total is too large."}
    assert shop.stock(p) == [1000000]
    assert len(alice.cart()["items"]) == 1


def test_checkout_total_too_large_with_gst_is_a_400(shop, alice):
    # The subtotal fits an amount (9 * 10^18 paise) but subtotal + 18 % GST does not: the
    # checkout must refuse it, as the summary does, not charge a wrapped-around total.
    p = shop.product(variants=(("9999999999999.99", "1kg", 9000),))
    alice.added(p, 0, 9000)
    assert expect(alice.get(SUMMARY), 400) == {"error": "The order total is too large."}
    assert expect(alice.checkout(), 400) == {"error": "The order total is too large."}
    assert shop.stock(p) == [9000]
    assert len(alice.cart()["items"]) == 1
    assert expect(alice.get(HISTORY), 200) == []


def test_checkout_total_past_the_order_limit_is_a_400(shop, alice):
    # One line: its subtotal is a valid price (10^15 paise), but with GST the total passes the
    # largest order total (10^15 paise, the bound any one price has), so it is refused.
    p = shop.product(variants=(("9999999999999.99", "1kg", 5),))
    alice.added(p, 0, 1)
    assert expect(alice.get(SUMMARY), 400) == {"error": "The order total is too large."}
    assert expect(alice.checkout(), 400) == {"error": "The order total is too large."}
    assert shop.stock(p) == [5]
    # Just within the limit it goes through.
    q = shop.product(variants=(("8474576271186.44", "1kg", 5),))
    expect(alice.post(CLEAR), 200)
    alice.added(q, 0, 1)
    order = alice.order()
    assert (order["subtotal"], order["gst"], order["grand_total"]) == (
        "8474576271186.44", "1525423728813.56", "10000000000000.00"), order
