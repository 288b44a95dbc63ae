/*
 * pool.h - a fixed set of threads taking jobs from a FIFO queue. The HTTP
 * server runs password hashing on one, so that slow work never occupies the
 * workers that serve everything else.
 */
#ifndef SHOPD_UTIL_POOL_H
#define SHOPD_UTIL_POOL_H

struct pool;

struct pool *pool_create(int threads, const char *name);
/* Queues fn(arg); never blocks (the queue grows). */
void pool_submit(struct pool *p, void (*fn)(void *), void *arg);
/* Runs every queued job, then joins the threads and frees the pool. */
void pool_destroy(struct pool *p);

#endif
