/* Unit tests: the shared failure counters. Delay, then block, then the
 * cool-down; the table never grows; an attacker cycling through many
 * addresses evicts only unblocked counters, never a block; and workers
 * killed while holding the lock do not wedge the others. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy/throttle.h"
#include "tests/unit/check.h"

static const struct throttle_policy policy = {
	.failures = 2, .block = 4, .window = 600,
	.delay = 1, .max_delay = 3, .cooldown = 900,
};

static enum throttle_verdict
verdict(struct throttle *t, const char *key)
{
	int secs;

	return throttle_check(t, &policy, key, &secs);
}

static void
test_delay_then_block(void)
{
	struct throttle *t = throttle_create(64);
	int secs = -1;

	throttle_fail(t, &policy, "ip:192.0.2.1");
	CHECK(verdict(t, "ip:192.0.2.1") == THROTTLE_OK);
	throttle_fail(t, &policy, "ip:192.0.2.1");
	CHECK(throttle_check(t, &policy, "ip:192.0.2.1", &secs) ==
	    THROTTLE_DELAY && secs == 1);
	throttle_fail(t, &policy, "ip:192.0.2.1");
	CHECK(throttle_check(t, &policy, "ip:192.0.2.1", &secs) ==
	    THROTTLE_DELAY && secs == 2);
	throttle_fail(t, &policy, "ip:192.0.2.1");
	CHECK(throttle_check(t, &policy, "ip:192.0.2.1", &secs) ==
	    THROTTLE_BLOCK && secs > 800);
	/* a success does not lift a block */
	throttle_reset(t, "ip:192.0.2.1");
	CHECK(verdict(t, "ip:192.0.2.1") == THROTTLE_BLOCK);
	CHECK(verdict(t, "ip:192.0.2.2") == THROTTLE_OK);
	throttle_destroy(t);
}

/* 100,000 addresses, two failures each, through a 256-entry table. */
static void
test_cycling_addresses(void)
{
	struct throttle *t = throttle_create(256);
	char key[64];

	for (int i = 0; i < policy.block; i++)
		throttle_fail(t, &policy, "user:alice");
	CHECK(verdict(t, "user:alice") == THROTTLE_BLOCK);
	for (int i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "ip:10.%d.%d.%d", i >> 16,
		    (i >> 8) & 255, i & 255);
		throttle_fail(t, &policy, key);
		throttle_fail(t, &policy, key);
	}
	CHECK(throttle_used(t) <= 256);
	CHECK(verdict(t, "user:alice") == THROTTLE_BLOCK);
	/* the most recent addresses are still counted */
	CHECK(verdict(t, key) == THROTTLE_DELAY);
	throttle_destroy(t);
}

/* Processes killed while they update the table: each spends nearly all
 * its time holding the lock, so most die holding it. A lock that did not
 * recover (the robust mutex) would hang here; alarm() turns that into a
 * failure. */
static void
test_holders_killed(void)
{
	struct throttle *t = throttle_create(64);

	alarm(60);
	for (int round = 0; round < 20; round++) {
		pid_t pid = fork();
		int status;

		if (pid == 0)
			for (;;)
				throttle_fail(t, &policy, "ip:192.0.2.8");
		usleep(2000);
		kill(pid, SIGKILL);
		CHECK(waitpid(pid, &status, 0) == pid);
		throttle_fail(t, &policy, "ip:192.0.2.9");
	}
	CHECK(verdict(t, "ip:192.0.2.8") == THROTTLE_BLOCK);
	CHECK(throttle_used(t) == 2);
	alarm(0);
	throttle_destroy(t);
}

int
main(void)
{
	test_delay_then_block();
	test_cycling_addresses();
	test_holders_killed();
	return check_done("test_throttle");
}
