/*
 * tests/unit/util/arena.c - src/util/arena.c: alignment, big requests,
 * cleanups (newest first, on reset and on destroy), reuse after reset, the
 * string helpers and the fatal-on-overflow rule.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/arena.h"

#define ALIGN _Alignof(max_align_t)

static bool aligned(const void *p)
{
    return (uintptr_t)p % ALIGN == 0;
}

static void test_alignment(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    for (size_t n = 0; n < 200; n++) {
        unsigned char *p = arena_alloc(a, n);
        assert_non_null(p);
        assert_true(aligned(p));
        memset(p, 0xab, n);
    }
    /* Zero-byte requests still get distinct pointers. */
    void *x = arena_alloc(a, 0), *y = arena_alloc(a, 0);
    assert_ptr_not_equal(x, y);
    /* Across chunk boundaries too. */
    for (int i = 0; i < 2000; i++)
        assert_true(aligned(arena_alloc(a, (size_t)(i % 37) + 1)));
    arena_destroy(a);
}

static void test_small_allocations_do_not_overlap(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    enum { N = 3000 };
    unsigned char *ptrs[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 50) + 1;
        ptrs[i] = arena_alloc(a, n);
        memset(ptrs[i], i & 0xff, n);
    }
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 50) + 1;
        for (size_t j = 0; j < n; j++)
            assert_int_equal(ptrs[i][j], i & 0xff);
    }
    arena_destroy(a);
}

static void test_big_allocations(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    char *before = arena_alloc(a, 16);
    size_t big_n = 5u << 20;
    unsigned char *big = arena_alloc(a, big_n);
    assert_true(aligned(big));
    memset(big, 0x5a, big_n);
    /* A big request gets its own chunk; small ones continue where they were. */
    char *after = arena_alloc(a, 16);
    assert_ptr_equal(after, before + 16);
    /* Several big ones, interleaved, all intact. */
    unsigned char *bigs[4];
    for (int i = 0; i < 4; i++) {
        bigs[i] = arena_alloc(a, 100000 + (size_t)i);
        memset(bigs[i], i, 100000 + (size_t)i);
        arena_alloc(a, 24);
    }
    for (int i = 0; i < 4; i++)
        for (size_t j = 0; j < 100000 + (size_t)i; j += 997)
            assert_int_equal(bigs[i][j], i);
    assert_int_equal(big[0], 0x5a);
    assert_int_equal(big[big_n - 1], 0x5a);
    assert_true(arena_used(a) >= big_n + 4 * 100000);
    /* Exactly one chunk's worth and a bit more. */
    unsigned char *edge = arena_alloc(a, 8192);
    memset(edge, 1, 8192);
    arena_reset(a);
    assert_int_equal(arena_used(a), 0);
    arena_destroy(a);
}

static void test_used(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    assert_int_equal(arena_used(a), 0);
    arena_alloc(a, 1);
    assert_int_equal(arena_used(a), ALIGN);
    arena_alloc(a, ALIGN + 1);
    assert_int_equal(arena_used(a), 3 * ALIGN);
    arena_reset(a);
    assert_int_equal(arena_used(a), 0);
    arena_destroy(a);
}

static char order[16];
static size_t order_n;

static void record(void *data)
{
    order[order_n++] = *(const char *)data;
}

static void test_cleanups_newest_first(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    static const char labels[] = "abcd";
    for (int i = 0; i < 4; i++)
        arena_cleanup_add(a, record, (void *)&labels[i]);
    order_n = 0;
    arena_reset(a);
    assert_int_equal(order_n, 4);
    assert_memory_equal(order, "dcba", 4);

    /* Each runs once: a second reset has nothing to run. */
    arena_reset(a);
    assert_int_equal(order_n, 4);

    /* And on destroy. */
    arena_cleanup_add(a, record, (void *)&labels[0]);
    arena_cleanup_add(a, record, (void *)&labels[1]);
    order_n = 0;
    arena_destroy(a);
    assert_int_equal(order_n, 2);
    assert_memory_equal(order, "ba", 2);
}

static struct arena *reentrant_arena;

static void register_another(void *data)
{
    record(data);
    static const char late = 'z';
    arena_cleanup_add(reentrant_arena, record, (void *)&late);
}

static void test_cleanup_added_by_cleanup(void **state)
{
    (void)state;
    struct arena *a = reentrant_arena = arena_create();
    static const char first = 'f';
    arena_cleanup_add(a, register_another, (void *)&first);
    order_n = 0;
    arena_reset(a);
    assert_int_equal(order_n, 2);
    assert_memory_equal(order, "fz", 2);
    arena_destroy(a);
    assert_int_equal(order_n, 2);
}

static void test_free_cleanup(void *p)
{
    free(p);
}

static void test_cleanup_releases(void **state)
{
    (void)state;
    /* The normal use: heap objects handed to the arena (ASan checks leaks). */
    struct arena *a = arena_create();
    for (int i = 0; i < 100; i++)
        arena_cleanup_add(a, test_free_cleanup, xmalloc(64));
    arena_destroy(a);
}

static void test_reset_reuses_first_chunk(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    char *first = arena_alloc(a, 32);
    for (int i = 0; i < 1000; i++)
        arena_alloc(a, 100);
    arena_reset(a);
    assert_ptr_equal(arena_alloc(a, 32), first);

    /* Memory handed out after a reset is usable and zalloc zero-fills it. */
    memset(first, 0xff, 32);
    arena_reset(a);
    unsigned char *z = arena_zalloc(a, 32);
    assert_ptr_equal(z, first);
    for (int i = 0; i < 32; i++)
        assert_int_equal(z[i], 0);
    arena_destroy(a);
}

/* Regression: a big request made while the first chunk was the only one was
 * linked behind it, and arena_reset kept that big chunk instead of the first
 * one (holding on to the big block and giving small requests a chunk of the
 * wrong size). After the reset, small requests must again be served from the
 * first chunk: the same address, and a full chunk's worth contiguously. */
static void test_reset_after_big_keeps_first_chunk(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    char *first = arena_alloc(a, 8000); /* fills most of the first chunk */
    arena_alloc(a, 3000);               /* does not fit, over a quarter chunk: a chunk of its own */
    arena_reset(a);
    char *p = arena_alloc(a, ALIGN);
    assert_ptr_equal(p, first);
    /* 8 KiB chunk minus its header: ~500 aligned slots back to back. */
    for (int i = 1; i < 400; i++) {
        char *q = arena_alloc(a, ALIGN);
        assert_ptr_equal(q, p + ALIGN);
        p = q;
    }
    arena_destroy(a);
}

static void test_strings(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    assert_string_equal(arena_strdup(a, "hello"), "hello");
    assert_string_equal(arena_strdup(a, ""), "");
    char *s = arena_strndup(a, "hello world", 5);
    assert_string_equal(s, "hello");
    assert_string_equal(arena_sprintf(a, "%d-%s-%c", 42, "x", 'y'), "42-x-y");
    assert_string_equal(arena_sprintf(a, "%s", ""), "");
    /* Longer than a chunk. */
    char *big = arena_sprintf(a, "%20000d|", 7);
    assert_int_equal(strlen(big), 20001);
    assert_int_equal(big[19999], '7');
    assert_int_equal(big[20000], '|');
    arena_destroy(a);
}

static void test_heap_wrappers(void **state)
{
    (void)state;
    char *p = xmalloc(0);
    assert_non_null(p);
    free(p);
    int *z = xcalloc(100, sizeof(int));
    for (int i = 0; i < 100; i++)
        assert_int_equal(z[i], 0);
    z = xrealloc(z, 1000 * sizeof(int));
    assert_int_equal(z[99], 0);
    free(z);
    char *d = xstrdup("dup");
    assert_string_equal(d, "dup");
    free(d);
}

static void test_secure_wipe(void **state)
{
    (void)state;
    unsigned char key[37];
    memset(key, 0xa5, sizeof(key));
    secure_wipe(key, sizeof(key));
    for (size_t i = 0; i < sizeof(key); i++)
        assert_int_equal(key[i], 0);
    secure_wipe(key, 0);
}

/* Runs fn in a child; true when it died of SIGABRT (the OOM path). */
static bool aborts(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(STDERR_FILENO); /* the expected "out of memory" line */
        fn();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void alloc_size_max(void)
{
    struct arena *a = arena_create();
    char *p = arena_alloc(a, SIZE_MAX);
    p[0] = 1;
}

static void alloc_size_max_minus_8(void)
{
    struct arena *a = arena_create();
    char *p = arena_alloc(a, SIZE_MAX - 8);
    p[0] = 1;
}

static void test_huge_request_is_fatal(void **state)
{
    (void)state;
    /* Regression: rounding SIZE_MAX up to the alignment wrapped to a 16-byte
     * allocation instead of failing. */
    assert_true(aborts(alloc_size_max));
    assert_true(aborts(alloc_size_max_minus_8));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_small_allocations_do_not_overlap),
        cmocka_unit_test(test_big_allocations),
        cmocka_unit_test(test_used),
        cmocka_unit_test(test_cleanups_newest_first),
        cmocka_unit_test(test_cleanup_added_by_cleanup),
        cmocka_unit_test(test_cleanup_releases),
        cmocka_unit_test(test_reset_reuses_first_chunk),
        cmocka_unit_test(test_reset_after_big_keeps_first_chunk),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_heap_wrappers),
        cmocka_unit_test(test_secure_wipe),
        cmocka_unit_test(test_huge_request_is_fatal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
