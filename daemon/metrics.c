#include "config.h"

#include <inttypes.h>
#include <string.h>

#include "daemon/metrics.h"
#include "daemon/scoreboard.h"

#define X(w) #w,
static const char *const mechs[] = { METRICS_MECHS };
static const char *const auth_reasons[] = { METRICS_AUTH_REASONS };
static const char *const end_reasons[] = { METRICS_END_REASONS };
#undef X

static struct metrics *counts;

void
metrics_attach(struct metrics *m)
{
	counts = m;
}

/* Workers add at once to one shared counter: relaxed atomics suffice,
 * as no other memory is published through them. */
static void
add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* Index of word in words[0..n); the last, "other", for anything else. */
static size_t
label(const char *const *words, size_t n, const char *word)
{
	for (size_t i = 0; word != NULL && i + 1 < n; i++)
		if (strcmp(words[i], word) == 0)
			return i;
	return n - 1;
}

void
metrics_session(void)
{
	if (counts != NULL)
		add(&counts->sessions, 1);
}

void
metrics_auth(const char *mech, const char *reason)
{
	if (counts != NULL)
		add(&counts->auth[label(mechs, METRICS_NMECH, mech)]
		    [label(auth_reasons, METRICS_NAUTH, reason)], 1);
}

void
metrics_message(const char *action, uint64_t size)
{
	if (counts == NULL)
		return;
	if (strcmp(action, "retr") == 0) {
		add(&counts->retrieved, 1);
		add(&counts->retrieved_octets, size);
	} else if (strcmp(action, "top") == 0)
		add(&counts->top, 1);
	else if (strcmp(action, "dele") == 0)
		add(&counts->deleted, 1);
}

void
metrics_session_end(const char *reason, uint64_t bytes_in,
    uint64_t bytes_out)
{
	if (counts == NULL)
		return;
	add(&counts->ended[label(end_reasons, METRICS_NEND, reason)], 1);
	add(&counts->bytes_in, bytes_in);
	add(&counts->bytes_out, bytes_out);
}

/*
 * Printing, for the admin tool.
 */

static uint64_t
get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void
family(FILE *fp, const char *name, const char *type, const char *help)
{
	fprintf(fp, "# TYPE postern_%s %s\n# HELP postern_%s %s\n", name, type,
	    name, help);
}

static void
counter(FILE *fp, const char *name, const char *help, const uint64_t *c)
{
	family(fp, name, "counter", help);
	fprintf(fp, "postern_%s_total %" PRIu64 "\n", name, get(c));
}

static void
print_auth(FILE *fp, const struct metrics *m)
{
	family(fp, "auth_attempts", "counter", "Authentication attempts by "
	    "mechanism and outcome (postern-audit(7) reasons).");
	for (size_t i = 0; i < METRICS_NMECH; i++)
		for (size_t j = 0; j < METRICS_NAUTH; j++)
			if (get(&m->auth[i][j]) > 0)
				fprintf(fp, "postern_auth_attempts_total"
				    "{mechanism=\"%s\",reason=\"%s\"} %" PRIu64
				    "\n", mechs[i], auth_reasons[j],
				    get(&m->auth[i][j]));
}

static void
print_ended(FILE *fp, const struct metrics *m)
{
	family(fp, "sessions_ended", "counter", "Sessions ended, by why.");
	for (size_t i = 0; i < METRICS_NEND; i++)
		if (get(&m->ended[i]) > 0)
			fprintf(fp, "postern_sessions_ended_total{reason=\"%s\"} %"
			    PRIu64 "\n", end_reasons[i], get(&m->ended[i]));
}

static void
print_workers(FILE *fp, const unsigned *workers, unsigned nstates,
    unsigned max_workers)
{
	family(fp, "workers", "gauge", "Worker processes now, by state.");
	for (unsigned i = WS_STARTING; i < nstates; i++)
		fprintf(fp, "postern_workers{state=\"%s\"} %u\n",
		    worker_state_name((int)i), workers[i]);
	family(fp, "worker_slots", "gauge", "Scoreboard slots: at most this "
	    "many workers, old and new generations together.");
	fprintf(fp, "postern_worker_slots %u\n", max_workers);
}

void
metrics_print(FILE *fp, const struct metrics *m, const unsigned *workers,
    unsigned nstates, unsigned max_workers)
{
	counter(fp, "sessions", "Connections served.", &m->sessions);
	print_auth(fp, m);
	print_ended(fp, m);
	counter(fp, "retrieved_messages", "Messages sent in full by RETR.",
	    &m->retrieved);
	counter(fp, "retrieved_octets", "Octets of the messages RETR sent, "
	    "as LIST counts them.", &m->retrieved_octets);
	counter(fp, "top", "TOP commands answered.", &m->top);
	counter(fp, "deleted_messages", "Messages removed at QUIT.",
	    &m->deleted);
	counter(fp, "received_octets", "Octets received from clients (at "
	    "session end).", &m->bytes_in);
	counter(fp, "sent_octets", "Octets sent to clients (at session end).",
	    &m->bytes_out);
	print_workers(fp, workers, nstates, max_workers);
	fprintf(fp, "# EOF\n");
}
