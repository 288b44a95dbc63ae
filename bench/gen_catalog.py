#!/usr/bin/env python3
"""bench/gen_catalog.py - seeds the catalogue benchmark's database (bench/catalog.sh).

usage: gen_catalog.py DB_PATH [PRODUCTS [CATEGORIES]]

Writes PRODUCTS products (100,000) in CATEGORIES categories (200), one variant each, straight into
a SQLite database that `shopd migrate` has just created (the schema, its triggers and the search
index are shopd's own, so product_counts and the FTS tables stay exact). One transaction: a few
seconds. Rows look like a real shop's: a product row serialises to about 250 bytes of v1 JSON, so
a page of 20 is about 5 KB. Products are spread round-robin over the categories and all active (page
5,000 of 20 is then the last full page), ids ascend with created_at.
"""
import sqlite3
import sys
import time

WORDS = ("amber basil cedar delta ember fern garnet harbor indigo jasper kelp lumen maple nectar "
         "onyx pepper quartz russet saffron thyme umber velvet willow xenon yarrow zephyr").split()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[2])
    path = sys.argv[1]
    n_products = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    n_categories = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("PRAGMA synchronous = OFF")
    now = int(time.time()) - n_products
    with con:
        if con.execute("SELECT count(*) FROM products").fetchone()[0]:
            sys.exit(f"gen_catalog: {path} has products already; start from a fresh database")
        con.executemany(
            "INSERT INTO categories (id, category_id, name, slug, description, tags, "
            "display_order, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '[]', NULL, ?, ?)",
            ((c, f"{c:03d}", f"Category {c} {WORDS[c % len(WORDS)].title()}",
              f"category-{c}-{WORDS[c % len(WORDS)]}",
              f"All {WORDS[c % len(WORDS)]}.", now, now)
             for c in range(1, n_categories + 1)))

        def products():
            for i in range(1, n_products + 1):
                a, b = WORDS[i % len(WORDS)], WORDS[(i // len(WORDS)) % len(WORDS)]
                yield (i, f"{a.title()} {b.title()} {i}", f"{a}-{b}-{i}",
                       f"Hand-picked {a} and {b}.", 1 + i % n_categories, 1,
                       now + i, now + i)

        con.executemany(
            "INSERT INTO products (id, name, slug, description, category_id, tags, image_urls, "
            "image, is_active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '[]', '[]', NULL, "
            "?, ?, ?)", products())
        con.executemany(
            "INSERT INTO product_variants (product_id, position, price_minor, weight, inventory) "
            "VALUES (?, 0, ?, '', ?)",
            ((i, 100 + (i * 37) % 99900, i % 500) for i in range(1, n_products + 1)))
    active = con.execute("SELECT active FROM product_counts WHERE category_id = 0").fetchone()[0]
    con.execute("PRAGMA optimize")
    con.close()
    print(f"gen_catalog: {n_products} products ({active} active) in {n_categories} categories")


if __name__ == "__main__":
    main()
