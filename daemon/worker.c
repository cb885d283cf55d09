#include "config.h"

#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/listener.h"
#include "daemon/metrics.h"
#include "daemon/session.h"
#include "daemon/worker.h"

static volatile sig_atomic_t want_exit;

static void
on_stop(int sig)
{
	(void)sig;
	want_exit = 1;
}

/* TERM and USR1 only interrupt the wait for a client: a session in
 * progress is always finished. */
static void
worker_signals(sigset_t *waitmask)
{
	struct sigaction sa = { .sa_handler = on_stop };
	sigset_t block;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigprocmask(SIG_BLOCK, NULL, waitmask);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGUSR1);
	/* A worker whose master is gone has nobody to answer to. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static void
drop_privileges(const struct server *srv)
{
	if (!srv->drop_privileges)
		return;
	if (setgroups(1, &srv->gid) < 0 || setgid(srv->gid) < 0 ||
	    setuid(srv->uid) < 0)
		fatal("cannot drop privileges to uid %ld: %s", (long)srv->uid,
		    strerror(errno));
	if (setuid(0) == 0 || geteuid() == 0)
		fatal("privileges could be regained; refusing to serve");
}

/* One epoll set per worker with EPOLLEXCLUSIVE: a new connection wakes
 * one idle worker, not the whole pool (a thundering herd that cost ~75
 * context switches per login with 100 spare workers). */
static int
worker_epoll(const struct server *srv)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		fatal("epoll_create1: %s", strerror(errno));
	for (int i = 0; i < srv->nlisteners; i++) {
		struct epoll_event ev = {
			.events = EPOLLIN | EPOLLEXCLUSIVE,
			.data.u32 = (uint32_t)i,
		};

		if (epoll_ctl(ep, EPOLL_CTL_ADD, srv->listeners[i].fd, &ev) < 0)
			fatal("epoll_ctl: %s", strerror(errno));
	}
	return ep;
}

/* Waits for a connection on any listener; -1 when asked to stop. */
static int
worker_accept(const struct server *srv, int ep, const sigset_t *waitmask,
    const struct listener **from, struct sockaddr_storage *peer)
{
	/* Start at a different ready listener each time: taking them in
	 * epoll's (stable) order would starve the others for as long as
	 * the first always has a connection waiting (a slow-loris on 110
	 * locking 995 out). */
	static unsigned turn;

	while (!want_exit) {
		struct epoll_event ev[8];
		int n = epoll_pwait(ep, ev, 8, -1, waitmask);

		for (int j = 0; j < n; j++) {
			int k = (int)((turn + (unsigned)j) % (unsigned)n);
			const struct listener *l = &srv->listeners[ev[k].data.u32];
			socklen_t len = sizeof(*peer);
			int fd = accept4(l->fd, (struct sockaddr *)peer, &len,
			    SOCK_CLOEXEC);

			/* EAGAIN: another worker won the race. */
			if (fd >= 0) {
				turn++;
				*from = l;
				return fd;
			}
		}
	}
	return -1;
}

void
worker_main(struct server *srv, struct sb_slot *slot, int master_notify_fd)
{
	sigset_t waitmask;
	const struct listener *from;
	struct sockaddr_storage peer;
	unsigned long served = 0;
	int fd, ep;

	slot->pid = getpid();
	metrics_attach(&srv->sb->metrics);
	worker_signals(&waitmask);
	drop_privileges(srv);
	umask(077);
	if (chdir("/") < 0)
		log_warn("chdir /: %s", strerror(errno));
	scoreboard_set_notify_fd(master_notify_fd);
	/* Keep freed session memory instead of handing it back after every
	 * session: the next maildrop scan would fault it all in again. */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	ep = worker_epoll(srv);
	while (!want_exit && served < (unsigned long)srv->cfg->max_sessions_per_worker) {
		scoreboard_set(slot, WS_IDLE, NULL, NULL);
		if ((fd = worker_accept(srv, ep, &waitmask, &from, &peer)) < 0)
			break;
		metrics_session();
		session_serve(srv, slot, from, fd, &peer);
		slot->sessions = ++served;
	}
	scoreboard_set(slot, WS_CLOSING, NULL, NULL);
	exit(0);
}
