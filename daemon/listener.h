#ifndef POSTERN_LISTENER_H
#define POSTERN_LISTENER_H

#include <stdbool.h>
#include <sys/socket.h>

#include "common/conf.h"

struct listener {
	int fd;
	enum listener_mode mode;
	char name[80];   /* "pop3s 127.0.0.1:995", for logs and audit */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool keep;       /* used while reloading */
};

/* Opens every listener of cfg, reusing the sockets in old (which may be
 * NULL) that bind the same address, so a reload never refuses a client.
 * Sockets in old that are not reused are closed. Returns NULL with err
 * on failure (old is then left untouched). */
struct listener *listeners_open(const struct config *cfg,
    struct listener *old, int nold, int *n, char *err, size_t errlen);
void listeners_close(struct listener *l, int n);

#endif
