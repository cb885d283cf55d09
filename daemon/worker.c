#include "config.h"

#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/listener.h"
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

/* Waits for a connection on any listener; -1 when asked to stop. */
static int
worker_accept(const struct server *srv, const sigset_t *waitmask,
    const struct listener **from, struct sockaddr_storage *peer)
{
	struct pollfd pfd[srv->nlisteners];

	for (int i = 0; i < srv->nlisteners; i++)
		pfd[i] = (struct pollfd){ .fd = srv->listeners[i].fd, .events = POLLIN };
	while (!want_exit) {
		if (ppoll(pfd, (nfds_t)srv->nlisteners, NULL, waitmask) <= 0)
			continue;
		for (int i = 0; i < srv->nlisteners; i++) {
			socklen_t len = sizeof(*peer);
			int fd;

			if (!(pfd[i].revents & POLLIN))
				continue;
			fd = accept4(pfd[i].fd, (struct sockaddr *)peer, &len,
			    SOCK_CLOEXEC);
			if (fd >= 0) {
				*from = &srv->listeners[i];
				return fd;
			}
			/* EAGAIN: another worker won the race. */
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
	int fd;

	slot->pid = getpid();
	worker_signals(&waitmask);
	drop_privileges(srv);
	umask(077);
	if (chdir("/") < 0)
		log_warn("chdir /: %s", strerror(errno));
	scoreboard_set_notify_fd(master_notify_fd);
	/* Keep freed session memory instead of handing it back after every
	 * session: the next maildrop scan would fault it all in again. */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	while (!want_exit && served < (unsigned long)srv->cfg->max_sessions_per_worker) {
		scoreboard_set(slot, WS_IDLE, NULL, NULL);
		if ((fd = worker_accept(srv, &waitmask, &from, &peer)) < 0)
			break;
		session_serve(srv, slot, from, fd, &peer);
		slot->sessions = ++served;
	}
	scoreboard_set(slot, WS_CLOSING, NULL, NULL);
	exit(0);
}
