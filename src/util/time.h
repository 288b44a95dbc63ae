/*
 * time.h - wall clock in seconds and microseconds, monotonic microseconds,
 * and ISO 8601 rendering (UTC, with Z) as every surface shows timestamps.
 */
#ifndef SHOPD_UTIL_TIME_H
#define SHOPD_UTIL_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int64_t time_now(void);    /* seconds since the epoch */
int64_t time_now_us(void); /* microseconds since the epoch */
int64_t time_mono_us(void);

#define TIME_ISO_LEN 32
/* "2024-01-01T00:00:00Z" */
void time_iso8601(int64_t epoch_seconds, char out[TIME_ISO_LEN]);
/* "2024-01-01T00:00:00.123456Z" */
void time_iso8601_us(int64_t epoch_us, char out[TIME_ISO_LEN]);
/* Parses YYYY-MM-DD into a valid calendar date. */
bool time_parse_date(const char *s, int *year, int *month, int *day);

#endif
