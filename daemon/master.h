#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H

#include <stdbool.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "common/conf.h"

struct directory;
struct listener;
struct scoreboard;

/* What the master prepares and every worker inherits at fork. */
struct server {
	struct config *cfg;
	struct listener *listeners;
	int nlisteners;
	SSL_CTX *tls;                 /* NULL when no listener needs TLS */
	struct directory *dir;
	struct scoreboard *sb;
	struct throttle *throttle;    /* shared by all workers, kept on reload */
	unsigned generation;          /* bumped by each reload */
	uid_t uid;                    /* workers run as this */
	gid_t gid;
	bool drop_privileges;
	bool foreground;
};

/* Runs the daemon until SIGTERM; returns the exit status. */
int master_run(struct config *cfg, bool foreground);
/* Everything the master needs before forking that -t can check too. */
bool server_prepare(struct server *srv, struct config *cfg, char *err,
    size_t errlen);

#endif
