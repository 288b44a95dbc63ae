/*
 * pool.c - see pool.h. One mutex and one condition variable guard a singly
 * linked FIFO; pool_destroy sets stopping and wakes every thread, which exit
 * once the queue is empty, so no queued job is ever dropped.
 */
#include "util/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"

struct job {
    struct job *next;
    void (*fn)(void *);
    void *arg;
};

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct job *head, *tail;
    bool stopping;
    int n_threads;
    pthread_t *threads;
};

static void *worker(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->ready, &p->lock);
        struct job *j = p->head;
        if (j == NULL) { /* stopping and drained */
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        p->head = j->next;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        j->fn(j->arg);
        free(j);
    }
}

struct pool *pool_create(int threads, const char *name)
{
    struct pool *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->ready, NULL);
    p->n_threads = threads;
    p->threads = xcalloc((size_t)threads, sizeof(pthread_t));
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            fprintf(stderr, "shopd: cannot start %s thread\n", name);
            abort();
        }
        char tname[16]; /* the kernel keeps 15 characters */
        snprintf(tname, sizeof(tname), "%.8s-%d", name, i % 1000);
        pthread_setname_np(p->threads[i], tname);
    }
    return p;
}

void pool_submit(struct pool *p, void (*fn)(void *), void *arg)
{
    struct job *j = xmalloc(sizeof(*j));
    j->next = NULL;
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->ready);
    pthread_mutex_unlock(&p->lock);
}

void pool_destroy(struct pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->ready);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->ready);
    free(p->threads);
    free(p);
}
