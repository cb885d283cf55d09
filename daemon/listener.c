#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "daemon/listener.h"

#define LISTEN_BACKLOG 1024

static int
socket_bind(const struct sockaddr *sa, socklen_t len, char *err, size_t errlen)
{
	int one = 1, fd;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "*" binds IPv4 and IPv6 separately; keep them from colliding. */
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, sa, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		snprintf(err, errlen, "bind: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
find_reusable(struct listener *old, int nold, const struct addrinfo *ai)
{
	for (int i = 0; i < nold; i++)
		if (!old[i].keep && old[i].addrlen == ai->ai_addrlen &&
		    memcmp(&old[i].addr, ai->ai_addr, ai->ai_addrlen) == 0)
			return i;
	return -1;
}

static void
listener_name(struct listener *l, const struct listener_conf *lc)
{
	const char *h = lc->host;
	bool v6 = strchr(h, ':') != NULL;

	snprintf(l->name, sizeof(l->name), "%s %s%s%s:%s",
	    listener_mode_name(lc->mode), v6 ? "[" : "", h, v6 ? "]" : "",
	    lc->port);
}

/* Opens (or reuses) the sockets for one listen line; "*" gives two. */
static bool
open_one(const struct listener_conf *lc, struct listener *old, int nold,
    struct listener **out, int *n, char *err, size_t errlen)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
	}, *res, *ai;
	const char *host = strcmp(lc->host, "*") == 0 ? NULL : lc->host;
	int r;

	if ((r = getaddrinfo(host, lc->port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s:%s: %s", lc->host, lc->port, gai_strerror(r));
		return false;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct listener *l;
		int idx = find_reusable(old, nold, ai), fd;

		if (idx >= 0) {
			old[idx].keep = true;
			fd = old[idx].fd;
		} else if ((fd = socket_bind(ai->ai_addr, ai->ai_addrlen, err, errlen)) < 0) {
			/* No IPv6 on this host: "*" still serves IPv4. */
			if (host == NULL && ai->ai_family == AF_INET6 &&
			    (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
				continue;
			freeaddrinfo(res);
			return false;
		}
		*out = xreallocarray(*out, (size_t)*n + 1, sizeof(**out));
		l = &(*out)[(*n)++];
		memset(l, 0, sizeof(*l));
		l->fd = fd;
		l->mode = lc->mode;
		memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
		l->addrlen = ai->ai_addrlen;
		listener_name(l, lc);
	}
	freeaddrinfo(res);
	return true;
}

/* Undoes a failed open: closes the sockets made anew, keeps the old. */
static void
listeners_abort(struct listener *l, int n, struct listener *old, int nold)
{
	for (int i = 0; i < n; i++) {
		bool reused = false;

		for (int k = 0; k < nold; k++)
			reused |= old[k].fd == l[i].fd;
		if (!reused)
			close(l[i].fd);
	}
	free(l);
	for (int k = 0; k < nold; k++)
		old[k].keep = false;
}

struct listener *
listeners_open(const struct config *cfg, struct listener *old, int nold,
    int *n, char *err, size_t errlen)
{
	struct listener *out = NULL;
	char why[256];

	*n = 0;
	for (int i = 0; i < nold; i++)
		old[i].keep = false;
	for (int i = 0; i < cfg->nlisteners; i++) {
		const struct listener_conf *lc = &cfg->listeners[i];

		if (!open_one(lc, old, nold, &out, n, why, sizeof(why))) {
			snprintf(err, errlen, "%s:%d: listen %s: %s", cfg->path,
			    lc->line, listener_mode_name(lc->mode), why);
			listeners_abort(out, *n, old, nold);
			return NULL;
		}
	}
	for (int i = 0; i < nold; i++)
		if (!old[i].keep)
			close(old[i].fd);
	return out;
}

void
listeners_close(struct listener *l, int n)
{
	for (int i = 0; i < n; i++)
		close(l[i].fd);
	free(l);
}
