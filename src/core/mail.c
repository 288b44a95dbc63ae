/*
 * mail.c - see mail.h. Owns the "mail" job: its JSON payload (written by
 * mail_enqueue, read back by mail_run_job), the MIME rendering and the two
 * delivery routes (libcurl SMTP, or one .eml file per message).
 *
 * Payload: {"to", "subject", "text", "html" (or null), "attachments":
 * [{"filename", "content_type", "data" (base64)}]}.
 *
 * mail_run_job returns 0 when delivered, -1 when delivery failed and a later
 * attempt may succeed, -2 when the payload itself is unusable (no attempt
 * ever could): job.c fails such a job at once instead of retrying it.
 *
 * Rendered messages carry tokens (verification and reset links): their
 * buffers are wiped when the arena releases them, and nothing here logs a
 * body, a payload or a mail URL's password.
 */
#include "core/mail.h"

#include <assert.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/rand.h>

#include "core/core.h"
#include "core/job.h"
#include "util/arena.h"
#include "util/b64.h"
#include "util/config.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"

#define B64_LINE_BYTES 57 /* 57 bytes encode to 76 columns (RFC 2045 6.8) */
/* An RFC 2047 encoded-word is at most 75 characters: "=?UTF-8?B?" + 60 base64
 * characters (45 bytes) + "?=" is 72, 73 with the folding space. */
#define WORD_BYTES 45
#define WORD_B64 60
#define MAX_ASCII_SUBJECT 900
#define CONNECT_TIMEOUT 10L
#define TOTAL_TIMEOUT 60L

/* ---- small helpers ---- */

static void wipe_buf(void *data)
{
    struct buf *b = data;
    if (b->p != NULL && b->cap > 0)
        secure_wipe(b->p, b->cap);
}

/* Registers a wipe of b's final storage on the arena (b lives in it too). */
static struct buf *wiped_buf(struct arena *a, size_t expected)
{
    struct buf *b = arena_zalloc(a, sizeof(*b));
    buf_init_arena(b, a);
    buf_reserve(b, expected);
    arena_cleanup_add(a, wipe_buf, b);
    return b;
}

static void random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[32];

    assert(nbytes <= sizeof(raw));
    if (RAND_bytes(raw, (int)nbytes) != 1) {
        log_error("mail: RAND_bytes failed");
        abort();
    }
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

static bool is_plain_ascii(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c > 0x7e)
            return false;
    }
    return true;
}

/* A header value with every control character (CR and LF above all: header
 * injection) turned into a space. */
static char *header_clean(struct arena *a, const char *s)
{
    char *out = arena_strdup(a, s != NULL ? s : "");
    for (char *p = out; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    }
    return out;
}

/* The bare address of "Name <addr>" or "addr". */
static char *address_part(struct arena *a, const char *mailbox)
{
    const char *lt = strrchr(mailbox, '<');
    const char *gt = lt != NULL ? strchr(lt, '>') : NULL;
    struct str s = lt != NULL && gt != NULL ? (struct str){lt + 1, (size_t)(gt - lt - 1)}
                                            : str_from(mailbox);
    return str_dup(a, str_trim(s));
}

/* An address usable in an SMTP envelope: something@something, no spaces,
 * brackets or control characters. */
static bool address_ok(const char *addr)
{
    const char *at = strchr(addr, '@');
    if (at == NULL || at == addr || at[1] == '\0')
        return false;
    for (const char *p = addr; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',')
            return false;
    }
    return true;
}

/* ---- RFC 2047 / 5322 headers ---- */

/* Appends s as encoded-words folded onto continuation lines, every line at
 * most 76 characters (RFC 2047 2: the first shares its line with the
 * header name, indent columns); a chunk never splits a UTF-8 sequence
 * (RFC 2047 5: whole characters per word). */
static void append_encoded_words(struct buf *out, const char *s, size_t indent)
{
    size_t n = strlen(s), i = 0;
    size_t room = 76 - indent - 12; /* 12: "=?UTF-8?B?" and "?=" */
    size_t limit = room / 4 * 3;
    char word[WORD_B64 + 1];

    if (limit > WORD_BYTES)
        limit = WORD_BYTES;
    while (i < n) {
        size_t k = n - i < limit ? n - i : limit;
        while (i + k < n && k > 1 && ((unsigned char)s[i + k] & 0xc0) == 0x80)
            k--;
        b64_encode_into(word, s + i, k, false);
        if (i > 0)
            buf_append_str(out, "\r\n ");
        buf_printf(out, "=?UTF-8?B?%s?=", word);
        i += k;
        limit = WORD_BYTES; /* continuation lines: one space of indent */
    }
}

static void append_subject(struct buf *out, struct arena *a, const char *subject)
{
    const char *s = subject != NULL ? subject : "";
    buf_append_str(out, "Subject: ");
    /* Control characters, non-ASCII and overlong lines all go encoded: the
     * encoding makes CR/LF harmless and folds long values. */
    if (is_plain_ascii(s) && strlen(s) <= MAX_ASCII_SUBJECT)
        buf_append_str(out, s);
    else
        append_encoded_words(out, header_clean(a, s), strlen("Subject: "));
    buf_append_str(out, "\r\n");
}

/* From: the configured mailbox, its display name encoded when not ASCII. */
static void append_from(struct buf *out, struct arena *a, const char *from)
{
    char *clean = header_clean(a, from);
    buf_append_str(out, "From: ");
    const char *lt = strrchr(clean, '<');
    if (is_plain_ascii(clean) || lt == NULL) {
        buf_append_str(out, clean);
    } else {
        struct str name = str_trim((struct str){clean, (size_t)(lt - clean)});
        if (name.n >= 2 && name.p[0] == '"' && name.p[name.n - 1] == '"')
            name = (struct str){name.p + 1, name.n - 2};
        append_encoded_words(out, str_dup(a, name), strlen("From: "));
        buf_printf(out, " <%s>", address_part(a, clean));
    }
    buf_append_str(out, "\r\n");
}

/* RFC 5322 3.3 date-time in UTC, independent of the locale. */
static void append_date(struct buf *out, int64_t epoch)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    buf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
               tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
               tm.tm_sec);
}

/* A MIME parameter: quoted when printable ASCII, else RFC 2231 UTF-8''%XX. */
static void append_param(struct buf *out, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    if (is_plain_ascii(value)) {
        buf_printf(out, "; %s=\"", name);
        for (const char *p = value; *p != '\0'; p++) {
            if (*p == '"' || *p == '\\')
                buf_append_char(out, '\\');
            buf_append_char(out, *p);
        }
        buf_append_char(out, '"');
        return;
    }
    buf_printf(out, "; %s*=UTF-8''", name);
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("!#$&+-.^_`|~", *p) != NULL) {
            buf_append_char(out, (char)*p);
        } else {
            buf_append_char(out, '%');
            buf_append_char(out, hex[*p >> 4]);
            buf_append_char(out, hex[*p & 15]);
        }
    }
}

/* A content type as given when it looks like one (type/subtype[; params],
 * printable ASCII), else application/octet-stream. */
static const char *content_type_ok(const char *ct)
{
    if (ct == NULL || !is_plain_ascii(ct) || strchr(ct, '/') == NULL || ct[0] == '/')
        return "application/octet-stream";
    return ct;
}

/* ---- MIME bodies ---- */

static void append_b64_lines(struct buf *out, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i += B64_LINE_BYTES) {
        size_t k = n - i < B64_LINE_BYTES ? n - i : B64_LINE_BYTES;
        buf_reserve(out, b64_encoded_len(k, false) + 2);
        out->n += b64_encode_into(out->p + out->n, p + i, k, false);
        buf_append_str(out, "\r\n");
    }
}

/* Text in its MIME canonical form (RFC 2046 4.1.1): every line ends in CRLF,
 * whatever the caller used. */
static struct buf *crlf_text(struct arena *a, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    struct buf *b = wiped_buf(a, n + n / 16 + 16);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            buf_append_str(b, "\r\n");
            if (i + 1 < n && s[i + 1] == '\n')
                i++;
        } else if (s[i] == '\n') {
            buf_append_str(b, "\r\n");
        } else {
            buf_append_char(b, s[i]);
        }
    }
    return b;
}

static void append_text_part(struct buf *out, struct arena *a, const char *subtype,
                             const char *body)
{
    struct buf *canon = crlf_text(a, body);
    buf_printf(out,
               "Content-Type: text/%s; charset=utf-8\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\n",
               subtype);
    append_b64_lines(out, canon->p, canon->n);
}

/* "=_" never occurs in base64 or in our headers' content, so a random
 * boundary starting with it cannot collide with a part's content. */
static char *new_boundary(struct arena *a)
{
    char rnd[33];
    random_hex(rnd, 16);
    return arena_sprintf(a, "=_shopd_%s", rnd);
}

/* The readable body: text/plain alone, or multipart/alternative of text and
 * HTML (headers of this entity included). */
static void append_readable(struct buf *out, struct arena *a, const struct mail *m)
{
    if (m->html == NULL) {
        append_text_part(out, a, "plain", m->text);
        return;
    }
    const char *b = new_boundary(a);
    buf_printf(out, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n", b);
    buf_printf(out, "--%s\r\n", b);
    append_text_part(out, a, "plain", m->text);
    buf_printf(out, "--%s\r\n", b);
    append_text_part(out, a, "html", m->html);
    buf_printf(out, "--%s--\r\n", b);
}

static void append_attachment(struct buf *out, const struct mail_attachment *at)
{
    const char *filename = at->filename != NULL && at->filename[0] != '\0' ? at->filename
                                                                           : "attachment";
    buf_printf(out, "Content-Type: %s", content_type_ok(at->content_type));
    append_param(out, "name", filename);
    buf_append_str(out, "\r\nContent-Disposition: attachment");
    append_param(out, "filename", filename);
    buf_append_str(out, "\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    append_b64_lines(out, at->data, at->len);
}

void mail_render(struct arena *a, const struct config *cfg, const struct mail *m,
                 const char *message_id, struct buf *out)
{
    size_t expected = 2048;
    expected += (m->text ? strlen(m->text) : 0) * 3 / 2 + (m->html ? strlen(m->html) : 0) * 3 / 2;
    for (size_t i = 0; i < m->n_attachments; i++)
        expected += m->attachments[i].len * 4 / 3 + m->attachments[i].len / 28 + 512;
    buf_reserve(out, expected);

    append_from(out, a, cfg->mail_from != NULL ? cfg->mail_from : "shopd <no-reply@localhost>");
    buf_printf(out, "To: %s\r\n", header_clean(a, m->to));
    append_subject(out, a, m->subject);
    append_date(out, time_now());
    if (message_id == NULL || message_id[0] == '\0') {
        char rnd[33];
        random_hex(rnd, 16);
        message_id = arena_strdup(a, rnd);
    }
    const char *id = header_clean(a, message_id);
    if (strchr(id, '@') != NULL)
        buf_printf(out, "Message-ID: <%s>\r\n", id);
    else
        buf_printf(out, "Message-ID: <%s@shopd>\r\n", id);
    buf_append_str(out, "MIME-Version: 1.0\r\n");

    if (m->n_attachments == 0) {
        append_readable(out, a, m);
        return;
    }
    const char *b = new_boundary(a);
    buf_printf(out, "Content-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n\r\n", b);
    buf_printf(out, "--%s\r\n", b);
    append_readable(out, a, m);
    for (size_t i = 0; i < m->n_attachments; i++) {
        buf_printf(out, "--%s\r\n", b);
        append_attachment(out, &m->attachments[i]);
    }
    buf_printf(out, "--%s--\r\n", b);
}

/* ---- the outbox payload ---- */

static void put_json(void *data)
{
    json_object_put(data);
}

int mail_enqueue(struct ctx *ctx, const struct mail *m)
{
    struct json_object *o = json_object_new_object();
    struct json_object *list = json_object_new_array();

    json_object_object_add(o, "to", json_object_new_string(m->to != NULL ? m->to : ""));
    json_object_object_add(o, "subject",
                           json_object_new_string(m->subject != NULL ? m->subject : ""));
    json_object_object_add(o, "text", json_object_new_string(m->text != NULL ? m->text : ""));
    json_object_object_add(o, "html", m->html != NULL ? json_object_new_string(m->html) : NULL);
    for (size_t i = 0; i < m->n_attachments; i++) {
        const struct mail_attachment *at = &m->attachments[i];
        struct json_object *j = json_object_new_object();
        json_object_object_add(j, "filename",
                               json_object_new_string(at->filename ? at->filename : ""));
        const char *ct = at->content_type ? at->content_type : "application/octet-stream";
        json_object_object_add(j, "content_type", json_object_new_string(ct));
        json_object_object_add(j, "data",
                               json_object_new_string(b64_encode(ctx->arena, at->data, at->len)));
        json_object_array_add(list, j);
    }
    json_object_object_add(o, "attachments", list);
    arena_cleanup_add(ctx->arena, put_json, o);

    const char *json = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (json == NULL) {
        log_error("mail: json-c could not serialise a message");
        abort();
    }
    return job_enqueue(ctx, "mail", json);
}

/* The string member name of o; NULL when absent or not a string. */
static const char *member_string(struct json_object *o, const char *name)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* Fills m from the payload; false when it is not what mail_enqueue writes. */
static bool parse_payload(struct arena *a, const char *payload, struct mail *m)
{
    size_t n = strlen(payload);
    if (n == 0 || n > INT32_MAX)
        return false;
    struct json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return false;
    struct json_object *o = json_tokener_parse_ex(tok, payload, (int)n);
    bool parsed = o != NULL && json_tokener_get_error(tok) == json_tokener_success &&
                  json_object_is_type(o, json_type_object);
    json_tokener_free(tok);
    if (o != NULL)
        arena_cleanup_add(a, put_json, o);
    if (!parsed)
        return false;

    memset(m, 0, sizeof(*m));
    m->to = member_string(o, "to");
    m->subject = member_string(o, "subject");
    m->text = member_string(o, "text");
    m->html = member_string(o, "html");
    if (m->to == NULL || m->subject == NULL || m->text == NULL)
        return false;

    struct json_object *list;
    if (!json_object_object_get_ex(o, "attachments", &list) || list == NULL)
        return true;
    if (!json_object_is_type(list, json_type_array))
        return false;
    size_t count = json_object_array_length(list);
    struct mail_attachment *ats = arena_zalloc(a, (count ? count : 1) * sizeof(*ats));
    for (size_t i = 0; i < count; i++) {
        struct json_object *j = json_object_array_get_idx(list, i);
        const char *data = json_object_is_type(j, json_type_object) ? member_string(j, "data")
                                                                    : NULL;
        unsigned char *raw;
        size_t raw_n;
        if (data == NULL || !b64_decode(a, data, strlen(data), &raw, &raw_n))
            return false;
        ats[i].filename = member_string(j, "filename");
        ats[i].content_type = member_string(j, "content_type");
        ats[i].data = raw;
        ats[i].len = raw_n;
    }
    m->attachments = ats;
    m->n_attachments = count;
    return true;
}

int mail_run_job(struct arena *a, const struct config *cfg, const char *payload,
                 const char **error)
{
    struct mail m;
    if (payload == NULL || !parse_payload(a, payload, &m)) {
        *error = "malformed mail payload";
        return -2;
    }
    if (!address_ok(m.to)) {
        *error = "invalid recipient address";
        return -2;
    }
    char id[64];
    char rnd[25];
    random_hex(rnd, 12);
    snprintf(id, sizeof(id), "%llx.%s", (unsigned long long)time_now_us(), rnd);

    size_t expected = strlen(payload) * 3 / 2 + 4096;
    struct buf *msg = wiped_buf(a, expected);
    mail_render(a, cfg, &m, id, msg);
    return mail_deliver(a, cfg, m.to, msg->p, msg->n, error) == 0 ? 0 : -1;
}

/* ---- delivery: file://DIR ---- */

/* mkdir -p dir. */
static int make_dirs(struct arena *a, const char *dir, const char **error)
{
    char *copy = arena_strdup(a, dir);
    size_t n = strlen(copy);
    for (size_t i = 1; i <= n; i++) {
        if (copy[i] != '/' && copy[i] != '\0')
            continue;
        char saved = copy[i];
        copy[i] = '\0';
        if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
            *error = arena_sprintf(a, "cannot create %s: %s", copy, strerror(errno));
            return -1;
        }
        copy[i] = saved;
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes <dir>/<epoch_us>-<random>.eml through a temporary name and a
 * rename, so a reader of the directory never sees half a message; fsynced,
 * because the job is marked done right after. */
static int deliver_file(struct arena *a, const char *dir, const char *message, size_t len,
                        const char **error)
{
    if (dir[0] == '\0') {
        *error = "SHOPD_MAIL_URL file:// names no directory";
        return -1;
    }
    while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/')
        dir = arena_strndup(a, dir, strlen(dir) - 1);
    if (make_dirs(a, dir, error) != 0)
        return -1;

    char rnd[17];
    random_hex(rnd, 8);
    long long us = (long long)time_now_us();
    const char *final_path = arena_sprintf(a, "%s/%lld-%s.eml", dir, us, rnd);
    const char *tmp_path = arena_sprintf(a, "%s/.%lld-%s.eml.tmp", dir, us, rnd);

    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        *error = arena_sprintf(a, "cannot create %s: %s", tmp_path, strerror(errno));
        return -1;
    }
    if (write_all(fd, message, len) != 0 || fsync(fd) != 0) {
        *error = arena_sprintf(a, "cannot write %s: %s", tmp_path, strerror(errno));
        close(fd);
        unlink(tmp_path);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp_path, final_path) != 0) {
        *error = arena_sprintf(a, "cannot store %s: %s", final_path, strerror(errno));
        unlink(tmp_path);
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* ---- delivery: smtp:// and smtps:// ---- */

struct upload {
    const char *p;
    size_t left;
};

static size_t read_upload(char *dst, size_t size, size_t nitems, void *arg)
{
    struct upload *u = arg;
    size_t n = size * nitems;
    if (n > u->left)
        n = u->left;
    memcpy(dst, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

/* Moves the URL's user and password (URL-decoded: "p%40ss" is "p@ss") out of
 * the URL into the handle, where libcurl uses them for AUTH. *has_credentials
 * says whether there were any. */
static bool move_credentials(CURL *h, CURLU *url, bool *has_credentials)
{
    char *user = NULL, *password = NULL;
    bool ok = true;

    if (curl_url_get(url, CURLUPART_USER, &user, CURLU_URLDECODE) == CURLUE_OK && user != NULL)
        ok = curl_easy_setopt(h, CURLOPT_USERNAME, user) == CURLE_OK;
    if (curl_url_get(url, CURLUPART_PASSWORD, &password, CURLU_URLDECODE) == CURLUE_OK &&
        password != NULL) {
        ok = ok && curl_easy_setopt(h, CURLOPT_PASSWORD, password) == CURLE_OK;
        secure_wipe(password, strlen(password));
    }
    *has_credentials = user != NULL || password != NULL;
    curl_free(user);
    curl_free(password);
    curl_url_set(url, CURLUPART_USER, NULL, 0);
    curl_url_set(url, CURLUPART_PASSWORD, NULL, 0);
    return ok;
}

static atomic_bool cancelled;

void mail_cancel_deliveries(void)
{
    atomic_store(&cancelled, true);
}

void mail_resume_deliveries(void)
{
    atomic_store(&cancelled, false);
}

/* libcurl's progress callback: non-zero aborts the transfer. */
static int check_cancelled(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
    (void)data, (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load(&cancelled) ? 1 : 0;
}

/* Whether the URL's host is this machine (where a password in clear crosses
 * no network). */
static bool host_is_loopback(CURLU *url)
{
    char *host = NULL;
    if (curl_url_get(url, CURLUPART_HOST, &host, 0) != CURLUE_OK || host == NULL)
        return false;
    bool loopback = strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0 ||
                    strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
    curl_free(host);
    return loopback;
}

static int deliver_smtp(struct arena *a, const struct config *cfg, bool implicit_tls,
                        const char *to, const char *message, size_t len, const char **error)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *rcpt = NULL;
    struct upload up = {message, len};
    int rc = -1;
    CURLcode cc;

    const char *from = address_part(a, cfg->mail_from != NULL ? cfg->mail_from : "");
    if (!address_ok(from)) {
        *error = "SHOPD_MAIL_FROM has no usable address";
        return -1;
    }
    if (!address_ok(to)) {
        *error = "invalid recipient address";
        return -1;
    }
    CURL *h = curl_easy_init();
    CURLU *url = curl_url();
    if (h == NULL || url == NULL) {
        *error = "cannot initialise libcurl";
        goto out;
    }
    if (curl_url_set(url, CURLUPART_URL, cfg->mail_url, 0) != CURLUE_OK) {
        *error = "SHOPD_MAIL_URL is not a valid URL";
        goto out;
    }
    bool has_credentials = false;
    if (!move_credentials(h, url, &has_credentials)) {
        *error = "cannot set the SMTP credentials";
        goto out;
    }
    rcpt = curl_slist_append(NULL, arena_sprintf(a, "<%s>", to));
    if (rcpt == NULL) {
        *error = "out of memory";
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_CURLU, url);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, arena_sprintf(a, "<%s>", from));
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_upload);
    curl_easy_setopt(h, CURLOPT_READDATA, &up);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    /* smtps://: TLS or nothing. smtp://: STARTTLS when the server offers it,
     * and required before a password goes to another machine (a stripped
     * STARTTLS offer must not send it in clear). */
    bool require_tls = implicit_tls || (has_credentials && !host_is_loopback(url));
    curl_easy_setopt(h, CURLOPT_USE_SSL,
                     require_tls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, TOTAL_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* a background thread: no SIGALRM */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, check_cancelled);

    cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        *error = arena_strdup(a, errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    rc = 0;
out:
    curl_slist_free_all(rcpt);
    if (h != NULL)
        curl_easy_cleanup(h);
    if (url != NULL)
        curl_url_cleanup(url);
    return rc;
}

static bool has_scheme(const char *url, const char *scheme)
{
    return strncasecmp(url, scheme, strlen(scheme)) == 0;
}

int mail_deliver(struct arena *a, const struct config *cfg, const char *to,
                 const char *message, size_t len, const char **error)
{
    const char *url = cfg->mail_url != NULL ? cfg->mail_url : "";
    *error = NULL;
    if (has_scheme(url, "file://"))
        return deliver_file(a, url + strlen("file://"), message, len, error);
    if (has_scheme(url, "smtp://"))
        return deliver_smtp(a, cfg, false, to, message, len, error);
    if (has_scheme(url, "smtps://"))
        return deliver_smtp(a, cfg, true, to, message, len, error);
    *error = "SHOPD_MAIL_URL: unsupported scheme (file://, smtp:// or smtps://)";
    return -1;
}
