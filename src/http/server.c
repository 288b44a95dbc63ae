/*
 * server.c - libmicrohttpd glue: the access handler that receives a request,
 * routes it, runs its handler (inline on the worker, or on the hash pool with
 * the connection suspended for ROUTE_SLOW routes) and queues the reply with
 * the security and CORS headers; the completion callback that frees the
 * request; start and graceful stop.
 *
 * Replies are queued only from the second call of the access handler:
 * queueing in the first call makes libmicrohttpd close the connection, which
 * costs keep-alive. The one exception is a body announced larger than the
 * limit, where closing is what we want.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "db/db.h"
#include "http/internal.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/time.h"

static struct MHD_Daemon *daemon_handle;
static MHD_socket listen_socket = MHD_INVALID_SOCKET;
static struct pool *hash_pool;
static const struct config *server_cfg;
static atomic_int in_flight;
static atomic_bool shutting_down;

/* ---- the built-in surface: health ---- */

static void handle_healthz(struct http_request *req)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "status", json_object_new_string("ok"));
    http_reply_json(req, 200, obj);
}

static const struct route system_routes[] = {
    {"GET", "healthz", handle_healthz, ROUTE_NO_AUTH},
    {"GET", "media/<str:folder>/<str:file>", media_serve, ROUTE_NO_AUTH},
};

static const struct http_surface system_surface = {
    .name = "system",
    .mount = "/",
    .routes = system_routes,
    .n_routes = sizeof(system_routes) / sizeof(system_routes[0]),
};

/* ---- request life cycle ---- */

static void put_reply(void *data)
{
    struct http_exchange *ex = data;
    if (ex->reply_obj)
        json_object_put(ex->reply_obj);
    ex->reply_obj = NULL;
}

static void free_body(void *data)
{
    struct http_exchange *ex = data;
    buf_free(&ex->body);
}

/* One spare arena per thread: a request takes it and gives it back reset,
 * instead of a malloc and free of its first chunk every time. Requests end
 * on the worker thread that owns their connection. */
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static pthread_key_t spare_key; /* the thread's spare arena, destroyed at thread exit */

static void destroy_arena(void *a)
{
    arena_destroy(a);
}

static void make_spare_key(void)
{
    pthread_key_create(&spare_key, destroy_arena);
}

static struct arena *take_arena(void)
{
    pthread_once(&spare_once, make_spare_key);
    struct arena *a = pthread_getspecific(spare_key);
    if (a == NULL)
        return arena_create();
    pthread_setspecific(spare_key, NULL);
    return a;
}

static void give_back_arena(struct arena *a)
{
    arena_reset(a);
    if (pthread_getspecific(spare_key) == NULL)
        pthread_setspecific(spare_key, a);
    else
        arena_destroy(a);
}

static struct http_exchange *exchange_new(struct MHD_Connection *conn, const char *url,
                                          const char *method)
{
    struct arena *a = take_arena();
    struct http_exchange *ex = arena_zalloc(a, sizeof(*ex));
    struct http_request *req = &ex->req;
    req->arena = a;
    req->conn = conn;
    req->method = arena_strdup(a, method);
    req->path = arena_strdup(a, url);
    req->ctx.arena = a;
    req->ctx.cfg = server_cfg;
    ex->start_us = time_mono_us();
    buf_init(&ex->body);
    arena_cleanup_add(a, free_body, ex);
    arena_cleanup_add(a, put_reply, ex);

    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if (ct != NULL) {
        size_t n = strcspn(ct, ";");
        struct str media = str_trim((struct str){ct, n});
        req->content_type = str_lower(a, str_dup(a, media));
    }
    return ex;
}

static void fill_route(struct http_exchange *ex)
{
    struct http_request *req = &ex->req;
    ex->route_result = router_match(req->method, req->path, &ex->match);
    req->surface = ex->match.surface;
    req->route = ex->match.route;
    req->n_params = ex->match.n_params;
    for (int i = 0; i < ex->match.n_params; i++) {
        req->param_names[i] = ex->match.param_names[i];
        req->param_values[i] = str_dup(req->arena, ex->match.param_values[i]);
    }
}

/* Runs the route's handler on the calling thread, with that thread's own
 * database connection. */
static void run_handler(struct http_exchange *ex)
{
    struct http_request *req = &ex->req;
    req->ctx.now_us = time_now_us();
    req->ctx.now = req->ctx.now_us / 1000000;
    req->ctx.db = db_thread();
    if (req->ctx.db == NULL) {
        http_reply_error(req, 503, "SERVICE_UNAVAILABLE", "Database unavailable.");
        return;
    }
    if (request_authenticate(ex) && request_require_verified(ex) && ratelimit_check(ex))
        req->route->handler(req);
    if (!ex->replied) {
        log_error("%s %s: handler gave no reply", req->method, req->path);
        http_reply_internal(req);
    }
    if (db_in_transaction(req->ctx.db)) {
        /* A handler that returns inside a transaction has a bug; never let
         * it leak into the next request on this connection. */
        log_error("%s %s: handler left a transaction open; rolled back", req->method, req->path);
        db_rollback(req->ctx.db);
    }
}

static void run_on_pool(void *arg)
{
    struct http_exchange *ex = arg;
    run_handler(ex);
    ex->state = EX_DONE;
    MHD_resume_connection(ex->req.conn);
}

static void reply_options(struct http_exchange *ex)
{
    struct http_request *req = &ex->req;
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "name", json_object_new_string(req->path));
    struct json_object *renders = json_object_new_array();
    json_object_array_add(renders, json_object_new_string("application/json"));
    json_object_object_add(obj, "renders", renders);
    struct json_object *parses = json_object_new_array();
    json_object_array_add(parses, json_object_new_string("application/json"));
    json_object_array_add(parses, json_object_new_string("application/x-www-form-urlencoded"));
    json_object_object_add(obj, "parses", parses);
    http_reply_json(req, 200, obj);
    http_add_header(req, "Allow", ex->match.allow);
}

/* Decides what happens once the whole request has arrived. Returns true when
 * the request was handed to the hash pool. */
static bool dispatch(struct http_exchange *ex)
{
    struct http_request *req = &ex->req;
    if (strcmp(req->method, "OPTIONS") == 0 && ex->route_result != ROUTER_NOT_FOUND) {
        if (ex->route_result == ROUTER_FOUND) /* cannot happen: no OPTIONS routes */
            snprintf(ex->match.allow, sizeof(ex->match.allow), "OPTIONS");
        reply_options(ex);
        return false;
    }
    if (ex->route_result == ROUTER_NOT_FOUND) {
        http_reply_error(req, 404, "NOT_FOUND", "Not found.");
        return false;
    }
    if (ex->route_result == ROUTER_BAD_METHOD) {
        http_reply_error(req, 405, "METHOD_NOT_ALLOWED",
                         arena_sprintf(req->arena, "Method \"%s\" not allowed.", req->method));
        http_add_header(req, "Allow", ex->match.allow);
        return false;
    }
    if (!request_parse_body(ex))
        return false;
    if (req->route->flags & ROUTE_SLOW) {
        ex->state = EX_SUSPENDED;
        MHD_suspend_connection(req->conn);
        pool_submit(hash_pool, run_on_pool, ex);
        return true;
    }
    run_handler(ex);
    return false;
}

static void add_standard_headers(struct http_exchange *ex, struct MHD_Response *resp)
{
    struct http_request *req = &ex->req;
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
    const char *origin = http_header(req, "Origin");
    if (origin != NULL && cors_origin_allowed(origin)) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Vary", "Origin");
        if (strcmp(req->method, "OPTIONS") == 0 &&
            http_header(req, "Access-Control-Request-Method") != NULL) {
            MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                                    "GET, POST, PUT, PATCH, DELETE, OPTIONS");
            MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                    "Authorization, Content-Type, Idempotency-Key");
            MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
        }
    }
    if (atomic_load(&shutting_down))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

static enum MHD_Result queue_reply(struct http_exchange *ex)
{
    struct http_request *req = &ex->req;
    const char *body = ex->reply_bytes;
    size_t len = ex->reply_len;
    if (ex->reply_obj != NULL)
        body = json_object_to_json_string_length(
            ex->reply_obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (ex->reply_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ex->reply_type);
    add_standard_headers(ex, resp);
    for (struct reply_header *h = ex->headers; h; h = h->next)
        MHD_add_response_header(resp, h->name, h->value);
    enum MHD_Result rc = MHD_queue_response(req->conn, (unsigned)ex->status, resp);
    MHD_destroy_response(resp);
    ex->state = EX_QUEUED;
    log_access("%s %s %d %zu %lldus", req->method, req->path, ex->status, len,
               (long long)(time_mono_us() - ex->start_us));
    return rc;
}

static int64_t body_limit(const struct http_exchange *ex)
{
    if (ex->req.route != NULL && (ex->req.route->flags & ROUTE_UPLOAD))
        return server_cfg->max_upload_bytes;
    return server_cfg->max_body_bytes;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct http_exchange *ex = *con_cls;
    if (ex == NULL) {
        ex = exchange_new(conn, url, method);
        *con_cls = ex;
        atomic_fetch_add(&in_flight, 1);
        fill_route(ex);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        int64_t announced = 0;
        if (cl && str_to_int64(str_trim(str_from(cl)), &announced) &&
            announced > body_limit(ex)) {
            ex->body_too_large = true;
            request_parse_body(ex); /* records the 413 */
            return queue_reply(ex);
        }
        return MHD_YES;
    }
    switch (ex->state) {
    case EX_RECEIVING:
        if (*upload_data_size != 0) {
            if (!ex->body_too_large) {
                if (ex->body.n + *upload_data_size > (size_t)body_limit(ex)) {
                    ex->body_too_large = true;
                    buf_free(&ex->body);
                } else {
                    buf_append(&ex->body, upload_data, *upload_data_size);
                }
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (dispatch(ex))
            return MHD_YES;
        return queue_reply(ex);
    case EX_DONE:
        return queue_reply(ex);
    case EX_SUSPENDED:
        return MHD_YES;
    case EX_QUEUED:
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_exchange *ex = *con_cls;
    if (ex == NULL)
        return;
    *con_cls = NULL;
    give_back_arena(ex->req.arena);
    atomic_fetch_sub(&in_flight, 1);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_warn("libmicrohttpd: %s", msg);
}

static bool parse_listen(const char *listen, struct sockaddr_in *addr)
{
    const char *colon = strrchr(listen, ':');
    if (colon == NULL)
        return false;
    char host[64];
    size_t hn = (size_t)(colon - listen);
    if (hn == 0 || hn >= sizeof(host))
        return false;
    memcpy(host, listen, hn);
    host[hn] = '\0';
    int64_t port;
    if (!str_to_int64(str_from(colon + 1), &port) || port < 0 || port > 65535)
        return false;
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    return inet_pton(AF_INET, host, &addr->sin_addr) == 1;
}

bool http_server_start(const struct config *cfg, const struct http_surface *const *surfaces,
                       size_t n_surfaces)
{
    server_cfg = cfg;
    router_reset();
    if (!router_mount(&system_surface))
        return false;
    for (size_t i = 0; i < n_surfaces; i++)
        if (!router_mount(surfaces[i]))
            return false;
    cors_init(cfg->cors_origins);
    ratelimit_configure(cfg->rate_limits);

    struct sockaddr_in addr;
    if (!parse_listen(cfg->listen, &addr)) {
        log_error("SHOPD_LISTEN must be IPv4-address:port (got \"%s\")", cfg->listen);
        return false;
    }
    hash_pool = pool_create((int)cfg->hash_threads, "hash");
    /* The logger first (libmicrohttpd warns otherwise). No SO_REUSEPORT: a
     * second server on the same port must fail, not silently share it. The
     * per-connection pool is wiped after every keep-alive request, so it is
     * kept small: 16 KiB holds any reasonable request head (bodies go to
     * our own buffer). */
    daemon_handle = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)16 * 1024, MHD_OPTION_END);
    if (daemon_handle == NULL) {
        log_error("cannot listen on %s", cfg->listen);
        pool_destroy(hash_pool);
        hash_pool = NULL;
        return false;
    }
    log_async_start();
    log_info("serving on http://%s with %lld workers", cfg->listen, (long long)cfg->threads);
    return true;
}

void http_server_stop(int drain_seconds)
{
    if (daemon_handle == NULL)
        return;
    atomic_store(&shutting_down, true);
    listen_socket = MHD_quiesce_daemon(daemon_handle);
    int64_t deadline = time_mono_us() + (int64_t)drain_seconds * 1000000;
    while (atomic_load(&in_flight) > 0 && time_mono_us() < deadline)
        usleep(10000);
    if (atomic_load(&in_flight) > 0)
        log_warn("stopping with %d requests still in flight", atomic_load(&in_flight));
    /* The hash pool finishes its queue; each finished job resumes its
     * connection, which the daemon (still running) then answers. */
    pool_destroy(hash_pool);
    hash_pool = NULL;
    MHD_stop_daemon(daemon_handle);
    daemon_handle = NULL;
    if (listen_socket != MHD_INVALID_SOCKET)
        close(listen_socket);
    listen_socket = MHD_INVALID_SOCKET;
    cors_free();
    router_reset();
    log_async_stop();
}
