-- The catalogue: categories, products, their price/weight variants, and the
-- active-product counts that make a list's total O(1).
--
-- Names are unique case-insensitively through an index on lower(name) (ASCII
-- folding in SQLite); lookups by name use the same expression so they use it.
-- JSON arrays (tags, image_urls) are stored as text. Prices are integer
-- minor units. Deleting a category that products still refer to is refused
-- by the foreign key (no cascade); variants go with their product.
CREATE TABLE categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    category_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    image TEXT,
    display_order INTEGER CHECK (display_order BETWEEN 1 AND 8),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX categories_name ON categories (lower(name));
-- At most one category per display slot; most categories have none.
CREATE UNIQUE INDEX categories_display_order ON categories (display_order)
    WHERE display_order IS NOT NULL;

CREATE TABLE products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    category_id INTEGER NOT NULL REFERENCES categories (id),
    tags TEXT NOT NULL DEFAULT '[]',
    image_urls TEXT NOT NULL DEFAULT '[]',
    image TEXT,
    is_active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX products_name ON products (lower(name));
-- The public list: active products newest first, paged by OFFSET over the
-- index alone; and the same within one category.
CREATE INDEX products_active ON products (is_active, id);
CREATE INDEX products_category ON products (category_id, is_active, id);

-- Stock lives on the variant row, so taking it is one conditional UPDATE
-- (inventory = inventory - n WHERE inventory >= n).
CREATE TABLE product_variants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
    weight TEXT NOT NULL DEFAULT '',
    inventory INTEGER NOT NULL DEFAULT 0 CHECK (inventory >= 0)
);
CREATE UNIQUE INDEX product_variants_position ON product_variants (product_id, position);

-- Active products per category (category_id 0: all categories), kept exact
-- by the triggers below so a list's count is one primary-key read.
CREATE TABLE product_counts (
    category_id INTEGER PRIMARY KEY,
    active INTEGER NOT NULL DEFAULT 0
);
INSERT INTO product_counts (category_id, active) VALUES (0, 0);

CREATE TRIGGER categories_counts_insert AFTER INSERT ON categories
BEGIN
    INSERT INTO product_counts (category_id, active) VALUES (NEW.id, 0);
END;

CREATE TRIGGER categories_counts_delete AFTER DELETE ON categories
BEGIN
    DELETE FROM product_counts WHERE category_id = OLD.id;
END;

CREATE TRIGGER products_counts_insert AFTER INSERT ON products WHEN NEW.is_active
BEGIN
    UPDATE product_counts SET active = active + 1 WHERE category_id IN (0, NEW.category_id);
END;

CREATE TRIGGER products_counts_delete AFTER DELETE ON products WHEN OLD.is_active
BEGIN
    UPDATE product_counts SET active = active - 1 WHERE category_id IN (0, OLD.category_id);
END;

CREATE TRIGGER products_counts_update AFTER UPDATE OF is_active, category_id ON products
WHEN OLD.is_active IS NOT NEW.is_active OR OLD.category_id IS NOT NEW.category_id
BEGIN
    UPDATE product_counts SET active = active - 1
        WHERE OLD.is_active AND category_id IN (0, OLD.category_id);
    UPDATE product_counts SET active = active + 1
        WHERE NEW.is_active AND category_id IN (0, NEW.category_id);
END;
