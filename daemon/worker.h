#ifndef POSTERN_WORKER_H
#define POSTERN_WORKER_H

#include "daemon/master.h"
#include "daemon/scoreboard.h"

/* In a freshly forked child: drops privileges, then accepts and serves
 * sessions until its quota is served or the master asks it to stop.
 * Never returns. */
_Noreturn void worker_main(struct server *srv, struct sb_slot *slot,
    int master_notify_fd);

#endif
