/*
 * job.h - the outbox runner. Jobs are rows in the jobs table (kind, JSON
 * payload); a background thread claims due jobs (PostgreSQL: FOR UPDATE
 * SKIP LOCKED, so several processes can run it), runs them, and on failure
 * retries with exponential back-off (5 s doubling, at most 1 h between tries)
 * up to JOB_MAX_ATTEMPTS, after which the row is marked failed but kept.
 * Delivered jobs are deleted after a week; failed ones are kept.
 */
#ifndef SHOPD_CORE_JOB_H
#define SHOPD_CORE_JOB_H

#include <stdbool.h>

struct ctx;
struct config;

#define JOB_MAX_ATTEMPTS 12

/* Inserts a job due now, in the caller's transaction if one is open. */
int job_enqueue(struct ctx *ctx, const char *kind, const char *payload_json);

/* Starts the runner thread (serve) and stops it after finishing the job in
 * hand. */
bool job_runner_start(const struct config *cfg);
void job_runner_stop(void);
/* Wakes the runner now (after a commit that queued jobs). */
void job_runner_wake(void);

#endif
