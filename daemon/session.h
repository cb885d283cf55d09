#ifndef POSTERN_SESSION_H
#define POSTERN_SESSION_H

#include <sys/socket.h>

#include "daemon/master.h"
#include "daemon/scoreboard.h"

struct listener;

/* Serves one client connection to its end; closes fd. */
void session_serve(struct server *srv, struct sb_slot *slot,
    const struct listener *l, int fd, const struct sockaddr_storage *peer);

#endif
