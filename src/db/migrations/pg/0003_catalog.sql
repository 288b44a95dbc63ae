-- The catalogue: categories, products, their price/weight variants, and the
-- active-product counts that make a list's total O(1).
--
-- Names are unique case-insensitively through an index on lower(name);
-- lookups by name use the same expression so they use it. JSON arrays (tags,
-- image_urls) are stored as text, as in SQLite. Prices are integer minor
-- units. Deleting a category that products still refer to is refused by the
-- foreign key (no cascade); variants go with their product.
CREATE TABLE categories (
    id BIGSERIAL PRIMARY KEY,
    category_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    image TEXT,
    display_order INTEGER CHECK (display_order BETWEEN 1 AND 8),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX categories_name ON categories (lower(name));
-- At most one category per display slot; most categories have none.
CREATE UNIQUE INDEX categories_display_order ON categories (display_order)
    WHERE display_order IS NOT NULL;

CREATE TABLE products (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    category_id BIGINT NOT NULL REFERENCES categories (id),
    tags TEXT NOT NULL DEFAULT '[]',
    image_urls TEXT NOT NULL DEFAULT '[]',
    image TEXT,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX products_name ON products (lower(name));
-- The public list: active products newest first, paged by OFFSET over the
-- index alone (index-only scan); and the same within one category.
CREATE INDEX products_active ON products (is_active, id);
CREATE INDEX products_category ON products (category_id, is_active, id);

-- Stock lives on the variant row, so taking it is one conditional UPDATE
-- (inventory = inventory - n WHERE inventory >= n).
CREATE TABLE product_variants (
    id BIGSERIAL PRIMARY KEY,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
    weight TEXT NOT NULL DEFAULT '',
    inventory BIGINT NOT NULL DEFAULT 0 CHECK (inventory >= 0)
);
CREATE UNIQUE INDEX product_variants_position ON product_variants (product_id, position);

-- Active products per category (category_id 0: all categories), kept exact
-- by the triggers below so a list's count is one primary-key read.
CREATE TABLE product_counts (
    category_id BIGINT PRIMARY KEY,
    active BIGINT NOT NULL DEFAULT 0
);
INSERT INTO product_counts (category_id, active) VALUES (0, 0);

CREATE FUNCTION categories_counts_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO product_counts (category_id, active) VALUES (NEW.id, 0);
    ELSE
        DELETE FROM product_counts WHERE category_id = OLD.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER categories_counts AFTER INSERT OR DELETE ON categories
    FOR EACH ROW EXECUTE FUNCTION categories_counts_row();

-- The product triggers are per statement over the transition tables, and
-- they do not touch product_counts themselves: they append the statement's
-- changes to product_count_deltas, and a deferred trigger folds a
-- transaction's deltas into product_counts once, at its commit. Updating the
-- same count row once per product instead would leave one row version per
-- product in a transaction (a bulk import of 100,000 products in one
-- transaction), and finding the current version walks them all: quadratic.
-- The fold locks the count rows in category order (0 first), so concurrent
-- writers cannot deadlock on them, and holds them only while committing.
-- Inside the writing transaction itself the counts lag until the commit.
CREATE TABLE product_count_deltas (
    txid BIGINT NOT NULL,
    category_id BIGINT NOT NULL,
    n BIGINT NOT NULL
);
CREATE INDEX product_count_deltas_txid ON product_count_deltas (txid);
-- One row per writing transaction; its insert queues the fold.
CREATE TABLE product_count_batches (
    txid BIGINT PRIMARY KEY
);

CREATE FUNCTION product_counts_fold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM product_counts
        WHERE category_id IN (SELECT category_id FROM product_count_deltas WHERE txid = NEW.txid)
        ORDER BY category_id FOR UPDATE;
    UPDATE product_counts c SET active = c.active + d.n
        FROM (SELECT category_id, sum(n) AS n FROM product_count_deltas
              WHERE txid = NEW.txid GROUP BY category_id) d
        WHERE c.category_id = d.category_id AND d.n <> 0;
    DELETE FROM product_count_deltas WHERE txid = NEW.txid;
    DELETE FROM product_count_batches WHERE txid = NEW.txid;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER product_count_batches_fold AFTER INSERT ON product_count_batches
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION product_counts_fold();

CREATE FUNCTION product_counts_queue() RETURNS void LANGUAGE sql AS $$
    INSERT INTO product_count_batches (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
$$;

CREATE FUNCTION products_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO product_count_deltas (txid, category_id, n)
        SELECT txid_current(), c, sum(n) FROM (
            SELECT category_id AS c, 1 AS n FROM new_rows WHERE is_active
            UNION ALL SELECT 0, 1 FROM new_rows WHERE is_active) s
        GROUP BY c;
    IF FOUND THEN
        PERFORM product_counts_queue();
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION products_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO product_count_deltas (txid, category_id, n)
        SELECT txid_current(), c, sum(n) FROM (
            SELECT category_id AS c, -1 AS n FROM old_rows WHERE is_active
            UNION ALL SELECT 0, -1 FROM old_rows WHERE is_active) s
        GROUP BY c;
    IF FOUND THEN
        PERFORM product_counts_queue();
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION products_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO product_count_deltas (txid, category_id, n)
        SELECT txid_current(), c, sum(n) FROM (
            SELECT category_id AS c, 1 AS n FROM new_rows WHERE is_active
            UNION ALL SELECT 0, 1 FROM new_rows WHERE is_active
            UNION ALL SELECT category_id, -1 FROM old_rows WHERE is_active
            UNION ALL SELECT 0, -1 FROM old_rows WHERE is_active) s
        GROUP BY c HAVING sum(n) <> 0;
    IF FOUND THEN
        PERFORM product_counts_queue();
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER products_counts_insert AFTER INSERT ON products
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION products_counts_insert();
CREATE TRIGGER products_counts_delete AFTER DELETE ON products
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION products_counts_delete();
-- Transition tables rule out an UPDATE OF column list, so this runs for every
-- product UPDATE; it records nothing unless is_active or category_id moved.
CREATE TRIGGER products_counts_update AFTER UPDATE ON products
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION products_counts_update();
