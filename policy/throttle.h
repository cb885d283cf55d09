#ifndef POSTERN_THROTTLE_H
#define POSTERN_THROTTLE_H

#include <stdbool.h>

/* Authentication-failure counters shared by every worker: a table in
 * shared memory made by the master before it forks, so counts survive a
 * worker's crash. The table has a fixed number of entries, so an attacker
 * cycling addresses only evicts the oldest counters; memory never grows. */

struct throttle_policy {
	int failures;     /* after this many failures in window, delay */
	int block;        /* after this many, refuse for cooldown */
	int window;       /* seconds */
	int delay;        /* seconds added per failure beyond "failures" */
	int max_delay;
	int cooldown;     /* seconds */
};

enum throttle_verdict {
	THROTTLE_OK,
	THROTTLE_DELAY,   /* answer after *seconds */
	THROTTLE_BLOCK,   /* refuse; blocked for *seconds more */
};

struct throttle;

struct throttle *throttle_create(unsigned entries);
void throttle_destroy(struct throttle *t);
/* key: "ip:192.0.2.1" or "user:alice". */
enum throttle_verdict throttle_check(struct throttle *t,
    const struct throttle_policy *p, const char *key, int *seconds);
void throttle_fail(struct throttle *t, const struct throttle_policy *p,
    const char *key);
void throttle_reset(struct throttle *t, const char *key);
/* Entries in use, for tests and "postern status". */
unsigned throttle_used(struct throttle *t);

#endif
