-- Carts, orders and idempotency keys: one order model for every surface.
--
-- A cart belongs to one user (created on first use) and holds lines that
-- point at product variants; a line goes with its variant (cascade), so a
-- removed price-weight never leaves a dangling line. Cart lines never hold
-- stock: stock is taken at checkout with a conditional decrement.
--
-- Order lines copy the product's name, the variant's weight and the unit
-- price at checkout, so later catalogue changes never alter a past order;
-- their product/variant references become NULL when the catalogue row is
-- deleted (the copy remains). Money is integer minor units. The tax
-- (GST) rate is stored per order in basis points (shop checkout: 1800;
-- v1 orders: 0) together with the amounts it produced.
CREATE TABLE carts (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE cart_items (
    id BIGSERIAL PRIMARY KEY,
    cart_id BIGINT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    variant_id BIGINT NOT NULL REFERENCES product_variants (id) ON DELETE CASCADE,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX cart_items_line ON cart_items (cart_id, variant_id);
CREATE INDEX cart_items_variant ON cart_items (variant_id);

CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    order_number TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    status TEXT NOT NULL,
    payment_status TEXT NOT NULL,
    subtotal_minor BIGINT NOT NULL,
    tax_rate_bp INTEGER NOT NULL DEFAULT 0,
    tax_minor BIGINT NOT NULL DEFAULT 0,
    total_minor BIGINT NOT NULL,
    address_id BIGINT REFERENCES addresses (id) ON DELETE SET NULL,
    shipping_address TEXT NOT NULL DEFAULT '',
    billing_address TEXT NOT NULL DEFAULT '',
    stock_held BOOLEAN NOT NULL DEFAULT TRUE,
    stripe_payment_intent_id TEXT,
    client_secret TEXT,
    crm_sync_status TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_status ON orders (status);

CREATE TABLE order_items (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id BIGINT REFERENCES products (id) ON DELETE SET NULL,
    variant_id BIGINT REFERENCES product_variants (id) ON DELETE SET NULL,
    product_name TEXT NOT NULL,
    weight TEXT NOT NULL DEFAULT '',
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_minor BIGINT NOT NULL,
    line_total_minor BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX order_items_order ON order_items (order_id, id);
CREATE INDEX order_items_product ON order_items (product_id);
CREATE INDEX order_items_variant ON order_items (variant_id);

-- Idempotency-Key: one row per (user, scope, key). The fingerprint is a hash
-- of the request (method, path, body); the response is stored once the
-- first request has been answered.
CREATE TABLE idempotency_keys (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    order_id BIGINT REFERENCES orders (id) ON DELETE SET NULL,
    status_code INTEGER,
    response TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX idempotency_keys_key ON idempotency_keys (user_id, scope, idem_key);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
