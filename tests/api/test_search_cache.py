"""The search answer cache (src/core/search.c): repeated searches answer the same bytes,
every search is still recorded, a write through shopd shows at once, and a write from
outside the process shows within a second. Its own server: it renames products."""

import time

import pytest

from shopdtest import Server, expect
import test_search as ts


@pytest.fixture(scope="module")
def cat():
    s = Server(name="shopd-search-cache")
    try:
        s.start()
        yield ts.Catalogue(s)
    finally:
        s.stop()


def recorded(cat, q, n, timeout=2.0):
    """The result counts recorded for q, once n of them are there (records are batched)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = cat.server.sql("SELECT result_count FROM searches WHERE query = '" + q + "'")
        if len(rows) >= n or time.monotonic() > deadline:
            return [r[0] for r in rows]
        time.sleep(0.02)


def test_repeated_searches_answer_the_same_bytes_and_are_all_recorded(cat):
    first = [cat.search(q="prodtest") for _ in range(3)]
    assert all(r.status_code == 200 for r in first)
    assert first[0].content == first[1].content == first[2].content
    assert first[0].headers["Content-Type"] == first[2].headers["Content-Type"]
    typo = [cat.search(q="prodtset") for _ in range(2)]
    assert typo[0].status_code == 200 and typo[0].content == typo[1].content
    assert b"did you mean" in typo[0].content
    missing = [cat.search(q="zzqxqv") for _ in range(2)]
    assert [r.status_code for r in missing] == [404, 404]
    assert recorded(cat, "prodtest", 3) == ["3", "3", "3"]
    assert len(recorded(cat, "prodtset", 2)) == 2
    assert recorded(cat, "zzqxqv", 2) == ["0", "0"]


def test_a_write_through_shopd_shows_at_once(cat):
    before = expect(cat.search(q="prodtest"), 200)
    assert any(p["name"] == "prodtest2" for p in before["products"])
    pid = cat.p2["id"]
    expect(cat.api.patch(ts.PRODUCTS + f"{pid}/", json={"name": "renamed-two"},
                         headers=cat.admin), 200)
    after = expect(cat.search(q="prodtest"), 200)
    assert all(p["name"] != "prodtest2" for p in after["products"]), after


def test_a_write_from_outside_shows_within_a_second(cat):
    expect(cat.search(q="prodtest"), 200)
    cat.server.sql("UPDATE products SET name = 'prodtest9' WHERE id = %d" % cat.p3["id"])
    time.sleep(1.05)
    body = expect(cat.search(q="prodtest"), 200)
    assert any(p["name"] == "prodtest9" for p in body["products"]), body
