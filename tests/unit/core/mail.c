/*
 * tests/unit/core/mail.c - src/core/mail.c (and the outbox runner of
 * src/core/job.c that delivers its jobs) through mail.h and job.h.
 *
 * Rendering: headers (From, To, Subject, Date, Message-ID, MIME-Version),
 * CRLF everywhere, random boundaries, base64 bodies wrapped at 76 columns
 * that decode back to the canonical (CRLF) text, RFC 2047 subjects, header
 * injection, multipart/mixed with attachments. Delivery: file:// writes one
 * complete .eml (absolute and relative directories, created when missing).
 *
 * The runner, end to end on a real database (SQLite in a temporary
 * directory; PostgreSQL too when SHOPD_TEST_PG_URL is set, each case in its
 * own schema): an enqueued message becomes a file; a rolled-back enqueue
 * sends nothing; a failing SMTP server (a closed port) leaves the row
 * pending with attempts counted, last_error set and run_at pushed out by the
 * back-off (5, 10, 20 s), and the message is delivered once the route works;
 * the last attempt marks the row failed but keeps it; an unknown kind fails
 * at once. The runner is process-wide, so every runner case stops it in its
 * teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <arpa/inet.h>
#include <dirent.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "core/job.h"
#include "core/mail.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/b64.h"
#include "util/config.h"
#include "util/str.h"
#include "util/time.h"
#include "testdb.h"

#define WAIT_MS 10000 /* longest wait for the runner to act */

static char mail_from[] = "shopd <no-reply@shop.example>";

/* ---- helpers: reading a rendered message back ---- */

static void remove_tree(const char *dir);

/* Every line ends in CRLF: no bare LF or CR anywhere. */
static void assert_crlf_only(const char *msg, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
            fail_msg("bare LF at offset %zu", i);
        if (msg[i] == '\r' && (i + 1 >= n || msg[i + 1] != '\n'))
            fail_msg("bare CR at offset %zu", i);
    }
}

/* No line longer than max characters (RFC 5322: 998; we keep 78 for
 * headers we fold and 76 for base64). */
static size_t longest_line(const char *msg)
{
    size_t longest = 0;
    for (const char *p = msg; *p != '\0';) {
        const char *e = strstr(p, "\r\n");
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (n > longest)
            longest = n;
        p += n + (e != NULL ? 2 : 0);
    }
    return longest;
}

/* The value of header name (unfolded) in the header block of msg. */
static char *header(struct arena *a, const char *msg, const char *name)
{
    const char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    size_t name_n = strlen(name);
    for (const char *p = msg; p < end;) {
        const char *eol = strstr(p, "\r\n");
        if (strncasecmp(p, name, name_n) == 0 && p[name_n] == ':') {
            struct buf b;
            buf_init_arena(&b, a);
            const char *v = p + name_n + 1;
            while (*v == ' ')
                v++;
            buf_append(&b, v, (size_t)(eol - v));
            while (eol < end && (eol[2] == ' ' || eol[2] == '\t')) {
                const char *next = strstr(eol + 2, "\r\n");
                buf_append(&b, eol + 2, (size_t)(next - eol - 2));
                eol = next;
            }
            return (char *)buf_cstr(&b);
        }
        p = eol + 2;
    }
    return NULL;
}

/* The boundary parameter of a Content-Type value. */
static char *boundary_of(struct arena *a, const char *content_type)
{
    const char *p = strstr(content_type, "boundary=\"");
    assert_non_null(p);
    p += strlen("boundary=\"");
    const char *q = strchr(p, '"');
    assert_non_null(q);
    return arena_strndup(a, p, (size_t)(q - p));
}

/* The parts of a multipart body (each part's headers and body, without the
 * CRLF that precedes the next delimiter). */
static int split_parts(struct arena *a, const char *body, const char *boundary, char **parts,
                       int max)
{
    char *open = arena_sprintf(a, "--%s\r\n", boundary);
    char *delim = arena_sprintf(a, "\r\n--%s", boundary);
    const char *p = strstr(body, open);
    assert_non_null(p);
    p += strlen(open);
    int n = 0;
    for (;;) {
        const char *e = strstr(p, delim);
        assert_non_null(e);
        assert_true(n < max);
        parts[n++] = arena_strndup(a, p, (size_t)(e - p));
        e += strlen(delim);
        if (strncmp(e, "--", 2) == 0)
            return n;
        assert_memory_equal(e, "\r\n", 2);
        p = e + 2;
    }
}

static const char *body_of(const char *entity)
{
    const char *p = strstr(entity, "\r\n\r\n");
    assert_non_null(p);
    return p + 4;
}

/* Decodes a base64 body wrapped in CRLF lines, checking the wrapping. */
static unsigned char *decode_b64_body(struct arena *a, const char *body, size_t *out_n)
{
    struct buf joined;
    buf_init_arena(&joined, a);
    for (const char *p = body; *p != '\0';) {
        const char *e = strstr(p, "\r\n");
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        assert_true(n <= 76);
        buf_append(&joined, p, n);
        p += n + (e != NULL ? 2 : 0);
    }
    unsigned char *out;
    assert_true(b64_decode(a, joined.p != NULL ? joined.p : "", joined.n, &out, out_n));
    return out;
}

static char *decode_text_body(struct arena *a, const char *entity)
{
    size_t n;
    unsigned char *raw = decode_b64_body(a, body_of(entity), &n);
    return arena_strndup(a, (const char *)raw, n);
}

/* Concatenates the decoded text of =?UTF-8?B?...?= words (checking each
 * word's length). */
static char *decode_words(struct arena *a, const char *value)
{
    struct buf out;
    buf_init_arena(&out, a);
    const char *p = value;
    while ((p = strstr(p, "=?UTF-8?B?")) != NULL) {
        const char *q = strstr(p + 10, "?=");
        assert_non_null(q);
        assert_true((size_t)(q + 2 - p) <= 75);
        unsigned char *raw;
        size_t n;
        assert_true(b64_decode(a, p + 10, (size_t)(q - p - 10), &raw, &n));
        buf_append(&out, raw, n);
        p = q + 2;
    }
    return (char *)buf_cstr(&out);
}

static struct config test_config(char *mail_url)
{
    struct config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mail_from = mail_from;
    cfg.mail_url = mail_url;
    return cfg;
}

static const char *render(struct arena *a, const struct mail *m, const char *id)
{
    struct config cfg = test_config(NULL);
    struct buf out;
    buf_init_arena(&out, a);
    mail_render(a, &cfg, m, id, &out);
    const char *msg = buf_cstr(&out);
    assert_int_equal(strlen(msg), out.n);
    assert_crlf_only(msg, out.n);
    assert_non_null(strstr(msg, "\r\n\r\n"));
    return msg;
}

/* ---- rendering ---- */

static void test_render_alternative(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    /* LF line ends from the caller; one line far over 76 columns. */
    char text[600];
    snprintf(text, sizeof(text), "Hello Ada,\nconfirm: https://front.example/verify-email?uid=dTQ&"
                                 "token=abc\n\n%0300d\nBye", 7);
    struct mail m = {.to = "ada@example.com",
                     .subject = "Confirm your email",
                     .text = text,
                     .html = "<p>Hello <b>Ada</b></p>\n<p>Caf\xc3\xa9</p>"};
    const char *msg = render(a, &m, "abc123");

    assert_string_equal(header(a, msg, "From"), mail_from);
    assert_string_equal(header(a, msg, "To"), "ada@example.com");
    assert_string_equal(header(a, msg, "Subject"), "Confirm your email");
    assert_string_equal(header(a, msg, "Message-ID"), "<abc123@shopd>");
    assert_string_equal(header(a, msg, "MIME-Version"), "1.0");
    /* "Tue, 14 Nov 2023 22:13:20 +0000": day name, date, UTC. */
    const char *date = header(a, msg, "Date");
    assert_non_null(date);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    assert_non_null(end);
    assert_int_equal(*end, '\0');
    time_t when = timegm(&tm);
    assert_true(llabs((long long)(when - time(NULL))) < 5);

    const char *ct = header(a, msg, "Content-Type");
    assert_non_null(strstr(ct, "multipart/alternative;"));
    const char *boundary = boundary_of(a, ct);
    assert_true(strlen(boundary) >= 16);
    char *parts[4];
    assert_int_equal(split_parts(a, body_of(msg), boundary, parts, 4), 2);

    assert_string_equal(header(a, parts[0], "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(header(a, parts[0], "Content-Transfer-Encoding"), "base64");
    char *want_text = arena_sprintf(a, "Hello Ada,\r\nconfirm: https://front.example/verify-email"
                                       "?uid=dTQ&token=abc\r\n\r\n%0300d\r\nBye", 7);
    assert_string_equal(decode_text_body(a, parts[0]), want_text);

    assert_string_equal(header(a, parts[1], "Content-Type"), "text/html; charset=utf-8");
    assert_string_equal(header(a, parts[1], "Content-Transfer-Encoding"), "base64");
    assert_string_equal(decode_text_body(a, parts[1]),
                        "<p>Hello <b>Ada</b></p>\r\n<p>Caf\xc3\xa9</p>");
    assert_true(longest_line(msg) <= 78);

    /* Boundaries are random: a second rendering uses another. */
    const char *again = render(a, &m, "abc123");
    assert_string_not_equal(boundary_of(a, header(a, again, "Content-Type")), boundary);
    arena_destroy(a);
}

static void test_render_text_only(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct mail m = {.to = "b@example.com", .subject = "Plain", .text = "just text"};
    const char *msg = render(a, &m, "id-1@elsewhere");
    assert_string_equal(header(a, msg, "Message-ID"), "<id-1@elsewhere>");
    assert_string_equal(header(a, msg, "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(decode_text_body(a, msg), "just text");
    arena_destroy(a);
}

static void test_render_utf8_subject(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    /* Long, multi-byte, with 3- and 4-byte sequences placed so that naive
     * 45-byte chunks would split them. */
    const char *subject = "Best\xc3\xa4tigen Sie Ihre E-Mail-Adresse \xe2\x80\x94 "
                          "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe4\xbb\xb6\xe5\x90"
                          "\x8d \xf0\x9f\x9b\x92 und noch ein bisschen mehr Text f\xc3\xbcr die "
                          "L\xc3\xa4nge";
    struct mail m = {.to = "c@example.com", .subject = subject, .text = "x", .html = "<p>x</p>"};
    const char *msg = render(a, &m, "u1");
    const char *raw_subject = header(a, msg, "Subject");
    assert_non_null(raw_subject);
    assert_int_equal(strncmp(raw_subject, "=?UTF-8?B?", 10), 0);
    assert_string_equal(decode_words(a, raw_subject), subject);
    assert_true(longest_line(msg) <= 78);
    /* Each word decodes to whole characters: no word starts inside one. */
    const char *p = raw_subject;
    while ((p = strstr(p, "=?UTF-8?B?")) != NULL) {
        const char *q = strstr(p, "?=");
        unsigned char *raw;
        size_t n;
        assert_true(b64_decode(a, p + 10, (size_t)(q - p - 10), &raw, &n));
        assert_true(n > 0);
        assert_true((raw[0] & 0xc0) != 0x80);
        p = q + 2;
    }
    arena_destroy(a);
}

/* CR/LF in a recipient or subject can never start a header of their own. */
static void test_render_header_injection(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct mail m = {.to = "d@example.com\r\nBcc: victim@example.com",
                     .subject = "Hi\r\nBcc: other@example.com",
                     .text = "t"};
    const char *msg = render(a, &m, "x1");
    assert_null(strstr(msg, "\r\nBcc:"));
    assert_null(header(a, msg, "Bcc"));
    assert_string_equal(decode_words(a, header(a, msg, "Subject")),
                        "Hi  Bcc: other@example.com");
    arena_destroy(a);
}

static void test_render_attachments(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    unsigned char pdf[300];
    for (size_t i = 0; i < sizeof(pdf); i++)
        pdf[i] = (unsigned char)(i * 7 + 3); /* binary, NULs included */
    const char csv[] = "sku,qty\r\nA-1,2\r\n";
    struct mail_attachment atts[] = {
        {"invoice-42.pdf", "application/pdf", pdf, sizeof(pdf)},
        {"r\xc3\xa9sum\xc3\xa9 \"q\".csv", "text/csv", csv, sizeof(csv) - 1},
        {"weird.bin", "bad\r\ntype", "z", 1},
    };
    struct mail m = {.to = "e@example.com",
                     .subject = "Your invoice",
                     .text = "See attached.",
                     .html = "<p>See attached.</p>",
                     .attachments = atts,
                     .n_attachments = 3};
    const char *msg = render(a, &m, "inv");
    const char *ct = header(a, msg, "Content-Type");
    assert_non_null(strstr(ct, "multipart/mixed;"));
    char *parts[6];
    assert_int_equal(split_parts(a, body_of(msg), boundary_of(a, ct), parts, 6), 4);

    /* The readable alternative comes first, complete. */
    const char *alt_ct = header(a, parts[0], "Content-Type");
    assert_non_null(strstr(alt_ct, "multipart/alternative;"));
    assert_string_not_equal(boundary_of(a, alt_ct), boundary_of(a, ct));
    char *alt[4];
    assert_int_equal(split_parts(a, body_of(parts[0]), boundary_of(a, alt_ct), alt, 4), 2);
    assert_string_equal(decode_text_body(a, alt[0]), "See attached.");
    assert_string_equal(decode_text_body(a, alt[1]), "<p>See attached.</p>");

    assert_string_equal(header(a, parts[1], "Content-Type"),
                        "application/pdf; name=\"invoice-42.pdf\"");
    assert_string_equal(header(a, parts[1], "Content-Disposition"),
                        "attachment; filename=\"invoice-42.pdf\"");
    assert_string_equal(header(a, parts[1], "Content-Transfer-Encoding"), "base64");
    size_t n;
    unsigned char *data = decode_b64_body(a, body_of(parts[1]), &n);
    assert_int_equal(n, sizeof(pdf));
    assert_memory_equal(data, pdf, sizeof(pdf));

    /* Non-ASCII file names in RFC 2231 form; the CSV bytes kept as they are. */
    assert_string_equal(header(a, parts[2], "Content-Disposition"),
                        "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22q%22.csv");
    data = decode_b64_body(a, body_of(parts[2]), &n);
    assert_int_equal(n, sizeof(csv) - 1);
    assert_memory_equal(data, csv, n);

    /* A content type with a line break in it is not trusted. */
    assert_string_equal(header(a, parts[3], "Content-Type"),
                        "application/octet-stream; name=\"weird.bin\"");
    arena_destroy(a);
}

/* ---- delivery to files ---- */

static char *make_tmpdir(const char *what)
{
    char *dir = malloc(256);
    assert_non_null(dir);
    snprintf(dir, 256, "/tmp/shopd-test-mail-%s-XXXXXX", what);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The names of the entries of dir (not . and ..); returns their count. */
static int list_dir(struct arena *a, const char *dir, char **names, int max)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n < max)
            names[n] = arena_strdup(a, e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static char *read_file(struct arena *a, const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct buf b;
    buf_init_arena(&b, a);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return (char *)buf_cstr(&b);
}

static bool is_eml_name(const char *name)
{
    /* <epoch_us>-<random>.eml */
    char *dash;
    long long us = strtoll(name, &dash, 10);
    size_t n = strlen(name);
    return us > 1600000000000000LL && *dash == '-' && n > 4 && strcmp(name + n - 4, ".eml") == 0;
}

static void test_deliver_file_absolute(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    char *tmp = make_tmpdir("file");
    char *dir = arena_sprintf(a, "%s/not/yet/there", tmp);
    char *url = arena_sprintf(a, "file://%s", dir);
    struct config cfg = test_config(url);
    struct mail m = {.to = "f@example.com", .subject = "S", .text = "body", .html = "<i>b</i>"};
    struct buf msg;
    buf_init_arena(&msg, a);
    mail_render(a, &cfg, &m, "f1", &msg);

    const char *error = "unset";
    assert_int_equal(mail_deliver(a, &cfg, m.to, msg.p, msg.n, &error), 0);
    assert_int_equal(mail_deliver(a, &cfg, m.to, msg.p, msg.n, &error), 0);
    char *names[4];
    assert_int_equal(list_dir(a, dir, names, 4), 2); /* two files, no temporaries */
    for (int i = 0; i < 2; i++) {
        assert_true(is_eml_name(names[i]));
        const char *stored = read_file(a, arena_sprintf(a, "%s/%s", dir, names[i]));
        assert_int_equal(strlen(stored), msg.n);
        assert_memory_equal(stored, msg.p, msg.n);
        assert_string_equal(header(a, stored, "To"), "f@example.com");
    }
    assert_string_not_equal(names[0], names[1]);
    remove_tree(tmp);
    free(tmp);
    arena_destroy(a);
}

/* file://var/mail is relative to the working directory, as sqlite:// URLs. */
static void test_deliver_file_relative(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    char *tmp = make_tmpdir("rel");
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tmp), 0);
    char url[] = "file://var/mail";
    struct config cfg = test_config(url);
    const char *error = NULL;
    int rc = mail_deliver(a, &cfg, "g@example.com", "Subject: x\r\n\r\nx\r\n", 16, &error);
    assert_int_equal(chdir(cwd), 0);
    if (rc != 0)
        fail_msg("mail_deliver: %s", error);
    char *names[2];
    assert_int_equal(list_dir(a, arena_sprintf(a, "%s/var/mail", tmp), names, 2), 1);
    assert_true(is_eml_name(names[0]));
    remove_tree(tmp);
    free(tmp);
    arena_destroy(a);
}

static void test_deliver_errors(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    const char *error = NULL;

    char bad_scheme[] = "http://127.0.0.1:1/";
    struct config cfg = test_config(bad_scheme);
    assert_int_equal(mail_deliver(a, &cfg, "h@example.com", "x", 1, &error), -1);
    assert_non_null(error);
    assert_non_null(strstr(error, "unsupported"));

    /* A directory that cannot be created: the reason comes back. */
    char unwritable[] = "file:///proc/shopd-no-such/mail";
    cfg = test_config(unwritable);
    error = NULL;
    assert_int_equal(mail_deliver(a, &cfg, "h@example.com", "x", 1, &error), -1);
    assert_non_null(error);
    assert_non_null(strstr(error, "/proc/shopd-no-such"));

    /* A closed port: curl's reason. */
    char closed[64];
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
    close(s);
    snprintf(closed, sizeof(closed), "smtp://127.0.0.1:%d", ntohs(sin.sin_port));
    cfg = test_config(closed);
    error = NULL;
    assert_int_equal(mail_deliver(a, &cfg, "h@example.com", "x", 1, &error), -1);
    assert_non_null(error);
    assert_true(strlen(error) > 0);

    /* A payload that is not a message fails for good (-2), without delivery. */
    assert_int_equal(mail_run_job(a, &cfg, "{\"to\": 1}", &error), -2);
    assert_int_equal(mail_run_job(a, &cfg, "not json", &error), -2);
    assert_int_equal(mail_run_job(a, &cfg,
                                  "{\"to\":\"no-at-sign\",\"subject\":\"s\",\"text\":\"t\"}",
                                  &error),
                     -2);
    arena_destroy(a);
}

/* ---- the runner, on a real database ---- */

struct env {
    struct testdb t; /* the database and its temporary directory */
    char mail_dir[512];
    char mail_url[600];
    struct db *db;
    struct arena *arena;
    struct config cfg;
    struct ctx ctx;
};

static int setup_kind(void **state, enum db_kind kind)
{
    *state = NULL;
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    if (!testdb_open(&e->t, kind, "mail")) {
        free(e);
        return 0; /* PostgreSQL without SHOPD_TEST_PG_URL: the case skips itself */
    }
    e->db = e->t.db;
    db_set_url(e->t.url); /* the runner's own connection */
    snprintf(e->mail_dir, sizeof(e->mail_dir), "%s/mail", e->t.dir);
    snprintf(e->mail_url, sizeof(e->mail_url), "file://%s", e->mail_dir);
    e->arena = arena_create();
    e->cfg = test_config(e->mail_url);
    e->ctx.db = e->db;
    e->ctx.arena = e->arena;
    e->ctx.cfg = &e->cfg;
    e->ctx.now = time_now();
    e->ctx.now_us = time_now_us();
    *state = e;
    return 0;
}

static int setup_sqlite(void **state)
{
    return setup_kind(state, DB_SQLITE);
}

static int setup_pg(void **state)
{
    return setup_kind(state, DB_POSTGRES);
}

static int teardown(void **state)
{
    struct env *e = *state;
    if (e == NULL)
        return 0;
    job_runner_stop();
    if (e->arena)
        arena_destroy(e->arena);
    testdb_close(&e->t);
    free(e);
    return 0;
}

static struct env *env_of(void **state)
{
    if (*state == NULL)
        skip(); /* PostgreSQL case without SHOPD_TEST_PG_URL */
    return *state;
}

struct job_row {
    bool found;
    int64_t attempts, run_at;
    bool is_locked, is_done, is_failed;
    char last_error[256];
};

static struct job_row job_row(struct env *e, int64_t id)
{
    struct job_row r;
    memset(&r, 0, sizeof(r));
    struct db_res *res;
    assert_int_equal(db_query(e->db,
                              "SELECT attempts, run_at, locked_until, done_at, failed_at, "
                              "last_error FROM jobs WHERE id = ?",
                              DB_PARAMS(DB_INT(id)), &res),
                     DB_OK);
    if (db_next(res) == DB_ROW) {
        r.found = true;
        r.attempts = db_col_int(res, 0);
        r.run_at = db_col_int(res, 1);
        r.is_locked = !db_col_is_null(res, 2);
        r.is_done = !db_col_is_null(res, 3);
        r.is_failed = !db_col_is_null(res, 4);
        snprintf(r.last_error, sizeof(r.last_error), "%s",
                 db_col_text(res, 5) ? db_col_text(res, 5) : "");
    }
    db_res_close(res);
    return r;
}

static int64_t last_job_id(struct env *e)
{
    int64_t id = 0;
    assert_int_equal(db_query_int(e->db, "SELECT MAX(id) FROM jobs", DB_NO_PARAMS, &id), DB_ROW);
    return id;
}

static int64_t count_jobs(struct env *e)
{
    int64_t n = -1;
    assert_int_equal(db_query_int(e->db, "SELECT COUNT(*) FROM jobs", DB_NO_PARAMS, &n), DB_ROW);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls until the job has been run attempts times and is no longer in
 * hand (or done / failed). */
static struct job_row wait_attempts(struct env *e, int64_t id, int64_t attempts)
{
    struct job_row r;
    for (int waited = 0;; waited += 20) {
        r = job_row(e, id);
        assert_true(r.found);
        if (r.attempts >= attempts && !r.is_locked)
            return r;
        if (waited > WAIT_MS)
            fail_msg("job %lld: %lld attempts after %d ms (locked %d, done %d), waiting for %lld",
                     (long long)id, (long long)r.attempts, waited, r.is_locked, r.is_done,
                     (long long)attempts);
        sleep_ms(20);
    }
}

/* Waits for want complete messages in the mail directory (a temporary file
 * being written is not one); returns how many there are. */
static int wait_files(struct env *e, int want, char **names, int max)
{
    int n = 0;
    for (int waited = 0; waited <= WAIT_MS; waited += 20) {
        char *all[16];
        int total = list_dir(e->arena, e->mail_dir, all, 16);
        n = 0;
        for (int i = 0; i < total && i < 16; i++) {
            if (!is_eml_name(all[i]))
                continue;
            if (n < max)
                names[n] = all[i];
            n++;
        }
        if (n >= want)
            return n;
        sleep_ms(20);
    }
    return n;
}

static void enqueue(struct env *e, const char *to, const char *subject)
{
    struct mail m = {.to = to,
                     .subject = subject,
                     .text = "Your link: https://front.example/verify-email?uid=dTE&token=t0k",
                     .html = "<a href=\"https://front.example/verify-email?uid=dTE&amp;token=t0k\">"
                             "verify</a>"};
    assert_int_equal(mail_enqueue(&e->ctx, &m), SHOP_OK);
}

/* Makes the job due now (the test does not wait out the back-off). */
static void make_due(struct env *e, int64_t id)
{
    assert_int_equal(db_exec(e->db, "UPDATE jobs SET run_at = ? WHERE id = ?",
                             DB_PARAMS(DB_INT(time_now() - 1), DB_INT(id)), NULL),
                     DB_OK);
    job_runner_wake();
}

static void test_runner_delivers(void **state)
{
    struct env *e = env_of(state);
    struct arena *a = e->arena;

    /* In the caller's transaction: a rollback takes the email with it. */
    assert_int_equal(db_begin_write(e->db), DB_OK);
    enqueue(e, "rolled-back@example.com", "never");
    assert_int_equal(db_rollback(e->db), DB_OK);
    assert_int_equal(count_jobs(e), 0);

    assert_int_equal(db_begin_write(e->db), DB_OK);
    enqueue(e, "ada@example.com", "Welcome \xe2\x9c\x93");
    assert_int_equal(db_commit(e->db), DB_OK);
    enqueue(e, "bob@example.com", "Outside a transaction"); /* alone */
    assert_int_equal(count_jobs(e), 2);

    assert_true(job_runner_start(&e->cfg));
    char *names[4];
    assert_int_equal(wait_files(e, 2, names, 4), 2);
    bool seen_ada = false, seen_bob = false;
    for (int i = 0; i < 2; i++) {
        assert_true(is_eml_name(names[i]));
        const char *msg = read_file(a, arena_sprintf(a, "%s/%s", e->mail_dir, names[i]));
        assert_crlf_only(msg, strlen(msg));
        const char *to = header(a, msg, "To");
        char *parts[4];
        const char *ct = header(a, msg, "Content-Type");
        assert_int_equal(split_parts(a, body_of(msg), boundary_of(a, ct), parts, 4), 2);
        assert_non_null(strstr(decode_text_body(a, parts[0]), "verify-email?uid=dTE&token=t0k"));
        if (strcmp(to, "ada@example.com") == 0) {
            seen_ada = true;
            assert_string_equal(decode_words(a, header(a, msg, "Subject")),
                                "Welcome \xe2\x9c\x93");
        } else {
            seen_bob = strcmp(to, "bob@example.com") == 0;
            assert_string_equal(header(a, msg, "Subject"), "Outside a transaction");
        }
    }
    assert_true(seen_ada && seen_bob);
    int64_t id = last_job_id(e);
    struct job_row r = wait_attempts(e, id, 1);
    assert_true(r.is_done);
    assert_false(r.is_failed);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(count_jobs(e), 2); /* rows are kept, done */

    /* A message queued while the runner runs goes out at once (wake-up). */
    enqueue(e, "carol@example.com", "Later");
    assert_int_equal(wait_files(e, 3, names, 4), 3);
    job_runner_stop();
    job_runner_stop(); /* idempotent */
}

/* SMTP down: the row stays, attempts count, the back-off pushes run_at out
 * (5, 10, 20 s); once a route works, the same message is delivered. */
static void test_runner_retries(void **state)
{
    struct env *e = env_of(state);
    char closed[64];
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
    close(s);
    snprintf(closed, sizeof(closed), "smtp://127.0.0.1:%d", ntohs(sin.sin_port));
    e->cfg.mail_url = closed;

    enqueue(e, "dora@example.com", "Retry me");
    int64_t id = last_job_id(e);
    int64_t before = time_now();
    assert_true(job_runner_start(&e->cfg));

    const int64_t delays[] = {5, 10, 20};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            before = time_now();
            make_due(e, id);
        }
        struct job_row r = wait_attempts(e, id, i + 1);
        int64_t after = time_now();
        assert_int_equal(r.attempts, i + 1);
        assert_false(r.is_done);
        assert_false(r.is_failed);
        assert_true(strlen(r.last_error) > 0);
        if (r.run_at < before + delays[i] || r.run_at > after + delays[i])
            fail_msg("attempt %d: run_at %lld, expected now + %lld (now in [%lld, %lld])", i + 1,
                     (long long)r.run_at, (long long)delays[i], (long long)before,
                     (long long)after);
    }
    /* Not retried before its time. */
    sleep_ms(1500);
    assert_int_equal(job_row(e, id).attempts, 3);
    assert_int_equal(list_dir(e->arena, e->mail_dir, NULL, 0), 0);

    /* The route works again: nothing was lost. */
    job_runner_stop();
    e->cfg.mail_url = e->mail_url;
    make_due(e, id);
    assert_true(job_runner_start(&e->cfg));
    char *names[2];
    assert_int_equal(wait_files(e, 1, names, 2), 1);
    struct job_row r = wait_attempts(e, id, 4);
    assert_true(r.is_done);
    assert_int_equal(r.attempts, 4);
    const char *msg = read_file(e->arena, arena_sprintf(e->arena, "%s/%s", e->mail_dir, names[0]));
    assert_string_equal(header(e->arena, msg, "To"), "dora@example.com");
    assert_string_equal(header(e->arena, msg, "Subject"), "Retry me");
}

/* The last allowed attempt marks the row failed; it is kept. */
static void test_runner_gives_up(void **state)
{
    struct env *e = env_of(state);
    char bad[] = "smtp://127.0.0.1:1";
    e->cfg.mail_url = bad;
    enqueue(e, "eve@example.com", "Doomed");
    int64_t id = last_job_id(e);
    assert_int_equal(db_exec(e->db, "UPDATE jobs SET attempts = ? WHERE id = ?",
                             DB_PARAMS(DB_INT(JOB_MAX_ATTEMPTS - 1), DB_INT(id)), NULL),
                     DB_OK);
    assert_true(job_runner_start(&e->cfg));
    struct job_row r = wait_attempts(e, id, JOB_MAX_ATTEMPTS);
    assert_true(r.is_failed);
    assert_false(r.is_done);
    assert_true(strlen(r.last_error) > 0);
    assert_int_equal(count_jobs(e), 1);

    /* Failed rows are not claimed again. */
    make_due(e, id);
    sleep_ms(300);
    assert_int_equal(job_row(e, id).attempts, JOB_MAX_ATTEMPTS);
}

static void test_runner_unknown_kind(void **state)
{
    struct env *e = env_of(state);
    assert_int_equal(job_enqueue(&e->ctx, "no-such-kind", "{}"), SHOP_OK);
    int64_t id = last_job_id(e);
    assert_true(job_runner_start(&e->cfg));
    struct job_row r = wait_attempts(e, id, 1);
    assert_true(r.is_failed);
    assert_int_equal(r.attempts, 1);
    assert_non_null(strstr(r.last_error, "unknown job kind"));
}

/* A job stays in hand while its lease runs: another runner (here: the same
 * after a restart) does not take it before locked_until. */
static void test_runner_respects_lease(void **state)
{
    struct env *e = env_of(state);
    enqueue(e, "fred@example.com", "Leased");
    int64_t id = last_job_id(e);
    assert_int_equal(db_exec(e->db, "UPDATE jobs SET locked_until = ? WHERE id = ?",
                             DB_PARAMS(DB_INT(time_now() + 2), DB_INT(id)), NULL),
                     DB_OK);
    assert_true(job_runner_start(&e->cfg));
    sleep_ms(1000);
    assert_int_equal(job_row(e, id).attempts, 0);
    char *names[2];
    /* After the lease (a dead runner's) expires, the job is taken over. */
    assert_int_equal(wait_files(e, 1, names, 2), 1);
    assert_true(wait_attempts(e, id, 1).is_done);
}

static const struct {
    const char *name;
    CMUnitTestFunction fn;
} cases[] = {
    {"runner_delivers", test_runner_delivers},
    {"runner_retries", test_runner_retries},
    {"runner_gives_up", test_runner_gives_up},
    {"runner_unknown_kind", test_runner_unknown_kind},
    {"runner_respects_lease", test_runner_respects_lease},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static int run_backend(const char *group, CMFixtureFunction setup)
{
    struct CMUnitTest tests[NCASES];
    for (size_t i = 0; i < NCASES; i++)
        tests[i] = (struct CMUnitTest){cases[i].name, cases[i].fn, setup, teardown, NULL};
    return _cmocka_run_group_tests(group, tests, NCASES, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_render_alternative),
        cmocka_unit_test(test_render_text_only),
        cmocka_unit_test(test_render_utf8_subject),
        cmocka_unit_test(test_render_header_injection),
        cmocka_unit_test(test_render_attachments),
        cmocka_unit_test(test_deliver_file_absolute),
        cmocka_unit_test(test_deliver_file_relative),
        cmocka_unit_test(test_deliver_errors),
    };
    int failed = 0;
    failed += cmocka_run_group_tests_name("core/mail", pure, NULL, NULL);
    failed += run_backend("core/mail/sqlite", setup_sqlite);
    if (testdb_pg_url() == NULL)
        printf("core/mail/postgres: SHOPD_TEST_PG_URL not set, PostgreSQL cases skipped\n");
    failed += run_backend("core/mail/postgres", setup_pg);
    return failed != 0;
}
