#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "policy/throttle.h"

#define KEY_MAX 80
/* Entries looked at for one key; when all are taken, one is evicted
 * (see worse_victim). */
#define PROBE 8

struct th_entry {
	char key[KEY_MAX];
	uint32_t failures;
	time_t first;          /* of the current window */
	time_t blocked_until;
	time_t last;
};

struct throttle {
	pthread_mutex_t lock;  /* robust: a worker may die holding it */
	uint64_t seed;         /* random: no one can aim keys at a slot */
	unsigned n;
	size_t size;
	struct th_entry e[];
};

static uint64_t
hash(uint64_t seed, const char *s)
{
	uint64_t h = 1469598103934665603ULL ^ seed; /* FNV-1a, seeded */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct throttle *
throttle_create(unsigned entries)
{
	size_t size = sizeof(struct throttle) + entries * sizeof(struct th_entry);
	pthread_mutexattr_t a;
	struct throttle *t;

	t = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (t == MAP_FAILED)
		fatal("throttle table: %s", strerror(errno));
	memset(t, 0, size);
	t->n = entries ? entries : 1;
	t->size = size;
	if (getentropy(&t->seed, sizeof(t->seed)) == -1)
		t->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&t->lock, &a);
	pthread_mutexattr_destroy(&a);
	return t;
}

void
throttle_destroy(struct throttle *t)
{
	if (t)
		munmap(t, t->size);
}

static void
lock(struct throttle *t)
{
	/* The previous holder died: the table is still consistent, since
	 * every update is a few plain stores. */
	if (pthread_mutex_lock(&t->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&t->lock);
}

static void
unlock(struct throttle *t)
{
	pthread_mutex_unlock(&t->lock);
}

/* Whether a should be evicted rather than b: a free entry first, then
 * one not blocked (the stalest), and a block only when all are blocks
 * (the one ending soonest). Addresses cycled by an attacker thus evict
 * each other, not the blocks their own failures earned. */
static bool
worse_victim(const struct th_entry *a, const struct th_entry *b, time_t now)
{
	bool a_blocked = a->blocked_until > now;
	bool b_blocked = b->blocked_until > now;

	if ((a->key[0] == '\0') != (b->key[0] == '\0'))
		return a->key[0] == '\0';
	if (a_blocked != b_blocked)
		return !a_blocked;
	if (a_blocked)
		return a->blocked_until < b->blocked_until;
	return a->last < b->last;
}

/* The entry for key; with create, a new one replaces the best victim. */
static struct th_entry *
find(struct throttle *t, const char *key, bool create)
{
	uint64_t h = hash(t->seed, key);
	struct th_entry *victim = NULL;
	time_t now = time(NULL);

	for (unsigned i = 0; i < PROBE; i++) {
		struct th_entry *e = &t->e[(h + i) % t->n];

		if (e->key[0] && strncmp(e->key, key, KEY_MAX - 1) == 0)
			return e;
		if (victim == NULL || worse_victim(e, victim, now))
			victim = e;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	return victim;
}

enum throttle_verdict
throttle_check(struct throttle *t, const struct throttle_policy *p,
    const char *key, int *seconds)
{
	enum throttle_verdict v = THROTTLE_OK;
	time_t now = time(NULL);
	struct th_entry *e;

	*seconds = 0;
	if (t == NULL || p->failures <= 0)
		return THROTTLE_OK;
	lock(t);
	if ((e = find(t, key, false)) != NULL) {
		if (e->blocked_until > now) {
			v = THROTTLE_BLOCK;
			*seconds = (int)(e->blocked_until - now);
		} else if (now - e->first > p->window) {
			e->failures = 0;
		} else if ((int)e->failures >= p->failures) {
			int d = ((int)e->failures - p->failures + 1) * p->delay;

			v = THROTTLE_DELAY;
			*seconds = d < p->max_delay ? d : p->max_delay;
		}
	}
	unlock(t);
	return v;
}

void
throttle_fail(struct throttle *t, const struct throttle_policy *p,
    const char *key)
{
	time_t now = time(NULL);
	struct th_entry *e;

	if (t == NULL || p->failures <= 0)
		return;
	lock(t);
	e = find(t, key, true);
	if (e->failures == 0 || now - e->first > p->window) {
		e->first = now;
		e->failures = 0;
	}
	e->failures++;
	e->last = now;
	if (p->block > 0 && (int)e->failures >= p->block) {
		e->blocked_until = now + p->cooldown;
		e->failures = 0;
	}
	unlock(t);
}

void
throttle_reset(struct throttle *t, const char *key)
{
	struct th_entry *e;

	if (t == NULL)
		return;
	lock(t);
	if ((e = find(t, key, false)) != NULL && e->blocked_until <= time(NULL))
		memset(e, 0, sizeof(*e));
	unlock(t);
}

unsigned
throttle_used(struct throttle *t)
{
	unsigned n = 0;

	lock(t);
	for (unsigned i = 0; i < t->n; i++)
		n += t->e[i].key[0] != '\0';
	unlock(t);
	return n;
}
