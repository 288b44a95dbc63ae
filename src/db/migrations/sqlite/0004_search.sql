-- The unified search (src/core/search.c): FTS5 trigram indexes over the
-- catalogue, kept in step with it by triggers, and the searches log.
--
-- products_fts / categories_fts index name, description and tags (the JSON
-- text as stored) as external-content tables: the text lives once, in the
-- catalogue tables; the index holds trigrams only. A phrase query of the
-- search term is a case-insensitive substring match.
--
-- product_names_fts / category_names_fts serve the "did you mean"
-- suggestions: names only, with a space on each side so a word's first and
-- last letters form trigrams of their own (" la", "op "), which keeps a typo
-- in a short word findable. Contentless, without positions (detail=none) or
-- sizes (columnsize=0): the candidate query is an OR of single trigrams
-- ranked by rarity, and without per-document sizes that ranking reads the
-- posting lists only (2 to 6 times faster at 100,000 products).
-- Only active products are in product_names_fts, so a suggestion never names
-- a hidden product. A contentless table forgets what it indexed: the delete
-- commands below pass the same text the insert did.
CREATE VIRTUAL TABLE products_fts USING fts5(
    name, description, tags,
    content = 'products', content_rowid = 'id', tokenize = 'trigram');
CREATE VIRTUAL TABLE categories_fts USING fts5(
    name, description, tags,
    content = 'categories', content_rowid = 'id', tokenize = 'trigram');
CREATE VIRTUAL TABLE product_names_fts USING fts5(
    name, content = '', tokenize = 'trigram', detail = 'none', columnsize = 0);
CREATE VIRTUAL TABLE category_names_fts USING fts5(
    name, content = '', tokenize = 'trigram', detail = 'none', columnsize = 0);
-- How many names hold each trigram: the candidate query leaves out the
-- trigrams so common that ranking the names holding them would cost more
-- than it tells.
CREATE VIRTUAL TABLE product_names_vocab USING fts5vocab(product_names_fts, 'row');
CREATE VIRTUAL TABLE category_names_vocab USING fts5vocab(category_names_fts, 'row');

-- Whatever the catalogue already holds (nothing on a fresh database).
INSERT INTO products_fts (products_fts) VALUES ('rebuild');
INSERT INTO categories_fts (categories_fts) VALUES ('rebuild');
INSERT INTO product_names_fts (rowid, name)
    SELECT id, ' ' || name || ' ' FROM products WHERE is_active;
INSERT INTO category_names_fts (rowid, name) SELECT id, ' ' || name || ' ' FROM categories;

CREATE TRIGGER products_fts_insert AFTER INSERT ON products
BEGIN
    INSERT INTO products_fts (rowid, name, description, tags)
        VALUES (NEW.id, NEW.name, NEW.description, NEW.tags);
    INSERT INTO product_names_fts (rowid, name)
        SELECT NEW.id, ' ' || NEW.name || ' ' WHERE NEW.is_active;
END;

CREATE TRIGGER products_fts_delete AFTER DELETE ON products
BEGIN
    INSERT INTO products_fts (products_fts, rowid, name, description, tags)
        VALUES ('delete', OLD.id, OLD.name, OLD.description, OLD.tags);
    INSERT INTO product_names_fts (product_names_fts, rowid, name)
        SELECT 'delete', OLD.id, ' ' || OLD.name || ' ' WHERE OLD.is_active;
END;

-- An update that leaves the indexed text alone (price, stock, image) does
-- not touch the index.
CREATE TRIGGER products_fts_update AFTER UPDATE OF name, description, tags ON products
WHEN OLD.name IS NOT NEW.name OR OLD.description IS NOT NEW.description
    OR OLD.tags IS NOT NEW.tags
BEGIN
    INSERT INTO products_fts (products_fts, rowid, name, description, tags)
        VALUES ('delete', OLD.id, OLD.name, OLD.description, OLD.tags);
    INSERT INTO products_fts (rowid, name, description, tags)
        VALUES (NEW.id, NEW.name, NEW.description, NEW.tags);
END;

CREATE TRIGGER product_names_fts_update AFTER UPDATE OF name, is_active ON products
WHEN OLD.name IS NOT NEW.name OR OLD.is_active IS NOT NEW.is_active
BEGIN
    INSERT INTO product_names_fts (product_names_fts, rowid, name)
        SELECT 'delete', OLD.id, ' ' || OLD.name || ' ' WHERE OLD.is_active;
    INSERT INTO product_names_fts (rowid, name)
        SELECT NEW.id, ' ' || NEW.name || ' ' WHERE NEW.is_active;
END;

CREATE TRIGGER categories_fts_insert AFTER INSERT ON categories
BEGIN
    INSERT INTO categories_fts (rowid, name, description, tags)
        VALUES (NEW.id, NEW.name, NEW.description, NEW.tags);
    INSERT INTO category_names_fts (rowid, name) VALUES (NEW.id, ' ' || NEW.name || ' ');
END;

CREATE TRIGGER categories_fts_delete AFTER DELETE ON categories
BEGIN
    INSERT INTO categories_fts (categories_fts, rowid, name, description, tags)
        VALUES ('delete', OLD.id, OLD.name, OLD.description, OLD.tags);
    INSERT INTO category_names_fts (category_names_fts, rowid, name)
        VALUES ('delete', OLD.id, ' ' || OLD.name || ' ');
END;

CREATE TRIGGER categories_fts_update AFTER UPDATE OF name, description, tags ON categories
WHEN OLD.name IS NOT NEW.name OR OLD.description IS NOT NEW.description
    OR OLD.tags IS NOT NEW.tags
BEGIN
    INSERT INTO categories_fts (categories_fts, rowid, name, description, tags)
        VALUES ('delete', OLD.id, OLD.name, OLD.description, OLD.tags);
    INSERT INTO categories_fts (rowid, name, description, tags)
        VALUES (NEW.id, NEW.name, NEW.description, NEW.tags);
    INSERT INTO category_names_fts (category_names_fts, rowid, name)
        SELECT 'delete', OLD.id, ' ' || OLD.name || ' ' WHERE OLD.name IS NOT NEW.name;
    INSERT INTO category_names_fts (rowid, name)
        SELECT NEW.id, ' ' || NEW.name || ' ' WHERE OLD.name IS NOT NEW.name;
END;

-- One row per search for the analytics issue. type is 'all', 'product' or
-- 'category'; user_id is NULL for anonymous searches and when the user is
-- deleted; result_count is what the answer held (products + categories, 0
-- when it fell back to suggestions).
CREATE TABLE searches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    query TEXT NOT NULL,
    type TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    result_count INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX searches_created ON searches (created_at);
CREATE INDEX searches_user ON searches (user_id) WHERE user_id IS NOT NULL;
