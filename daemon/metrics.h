#ifndef POSTERN_METRICS_H
#define POSTERN_METRICS_H

#include <stdint.h>
#include <stdio.h>

/* Counters that every worker adds to and "postern metrics" prints in the
 * OpenMetrics text format. They live in the scoreboard (shared memory the
 * master makes), so they outlive the workers and start again at zero when
 * the master starts. Labels come from the audit events' own words
 * (postern-audit(7)); a word not in these lists counts as "other". */

#define METRICS_MECHS \
	X(USER) X(PLAIN) X(SCRAM-SHA-256) X(SCRAM-SHA-256-PLUS) \
	X(SCRAM-SHA-1) X(SCRAM-SHA-1-PLUS) X(GSSAPI) X(KPOP) X(other)
#define METRICS_AUTH_REASONS \
	X(ok) X(bad-credentials) X(tls-required) X(aborted) X(bad-base64) \
	X(temp-failure) X(unknown-user) X(disabled) X(in-use) \
	X(maildrop-unusable) X(login-delay) X(throttled) \
	X(principal-mismatch) X(kpop-handshake) X(other)
#define METRICS_END_REASONS \
	X(quit) X(disconnect) X(timeout) X(bad-commands) X(proxy-header) \
	X(tls-handshake) X(kpop-handshake) X(too-many-sessions) X(error) \
	X(other)

#define X(w) + 1
enum {
	METRICS_NMECH = 0 METRICS_MECHS,
	METRICS_NAUTH = 0 METRICS_AUTH_REASONS,
	METRICS_NEND = 0 METRICS_END_REASONS
};
#undef X

struct metrics {
	uint64_t sessions;
	uint64_t auth[METRICS_NMECH][METRICS_NAUTH];
	uint64_t ended[METRICS_NEND];
	uint64_t retrieved, retrieved_octets, top, deleted;
	uint64_t bytes_in, bytes_out;
};

/* In a worker: where its counts go (NULL: nowhere). */
void metrics_attach(struct metrics *m);
void metrics_session(void);
void metrics_auth(const char *mech, const char *reason);
/* action: "retr", "top" or "dele". */
void metrics_message(const char *action, uint64_t size);
void metrics_session_end(const char *reason, uint64_t bytes_in,
    uint64_t bytes_out);

/* Writes m and the workers by state in the OpenMetrics text format,
 * ending with "# EOF". workers[state] counts slots in each state. */
void metrics_print(FILE *fp, const struct metrics *m,
    const unsigned *workers, unsigned nstates, unsigned max_workers);

#endif
