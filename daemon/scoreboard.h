#ifndef POSTERN_SCOREBOARD_H
#define POSTERN_SCOREBOARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "daemon/metrics.h"

/* Shared memory that the master and every worker see: one slot per worker
 * with its state, so the master can keep spare workers and an operator can
 * see sessions without disturbing them. Each worker writes only its slot. */

enum worker_state {
	WS_FREE = 0,
	WS_STARTING,
	WS_IDLE,      /* waiting in accept */
	WS_HANDSHAKE, /* TLS or Kerberos handshake */
	WS_AUTH,      /* AUTHORIZATION state */
	WS_TRANS,     /* TRANSACTION state */
	WS_CLOSING,
};

struct sb_slot {
	pid_t pid;
	unsigned generation;
	volatile int state;
	time_t since;
	unsigned long sessions;
	char client[48];
	char user[64];
};

struct scoreboard {
	uint32_t magic;          /* SB_MAGIC: this layout */
	uint32_t nslots;
	pid_t master_pid;
	struct metrics metrics;  /* added to by every worker */
	struct sb_slot slots[];
};

#define SB_MAGIC 0x32425350u /* "PSB2" */

/* In the master: mapped from <state_dir>/scoreboard when possible (for
 * "postern status"), anonymous memory otherwise. */
struct scoreboard *scoreboard_create(const char *state_dir, int nslots);
void scoreboard_destroy(struct scoreboard *sb);
const char *worker_state_name(int state);
/* In a worker: updates its slot and, for busy states, wakes the master so
 * it can start a spare worker at once. */
void scoreboard_set(struct sb_slot *slot, enum worker_state st,
    const char *client, const char *user);
void scoreboard_set_notify_fd(int fd);
/* Sessions now open from this client address, all workers together. */
int scoreboard_count_client(const struct scoreboard *sb, const char *client);

#endif
