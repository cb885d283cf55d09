#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#include "common/log.h"
#include "common/xmalloc.h"
#include "daemon/audit.h"
#include "daemon/listener.h"
#include "daemon/master.h"
#include "daemon/scoreboard.h"
#include "daemon/tls.h"
#include "daemon/worker.h"
#include "directory/dir_ldap.h"
#include "directory/directory.h"
#include "policy/throttle.h"
#include "sasl/psasl.h"

static volatile sig_atomic_t got_hup, got_term, got_chld;
static int notify_pipe[2] = { -1, -1 };
/* Workers crashing at start must not turn into a fork storm. */
static time_t spawn_pause_until;
static int recent_failures;
static time_t failures_since;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term = 1;
}

static void
master_signals(sigset_t *waitmask)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGHUP);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGCHLD);
}

static bool
listeners_need_tls(const struct config *cfg)
{
	/* pop3 offers STLS, pop3s needs it, kpop offers STLS after the
	 * handshake when a certificate is configured (the parser insists on
	 * one for pop3 and pop3s). */
	return cfg->tls_cert != NULL && cfg->tls_key != NULL;
}

static bool
resolve_service_user(struct server *srv, const struct config *cfg, char *err,
    size_t errlen)
{
	struct passwd *pw;
	struct group *gr;

	srv->drop_privileges = geteuid() == 0;
	if (!srv->drop_privileges)
		return true;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		snprintf(err, errlen, "%s: user \"%s\" does not exist", cfg->path,
		    cfg->user);
		return false;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "%s: user \"%s\" is root; workers never "
		    "run as root", cfg->path, cfg->user);
		return false;
	}
	srv->uid = pw->pw_uid;
	srv->gid = pw->pw_gid;
	if (cfg->group) {
		if ((gr = getgrnam(cfg->group)) == NULL) {
			snprintf(err, errlen, "%s: group \"%s\" does not exist",
			    cfg->path, cfg->group);
			return false;
		}
		srv->gid = gr->gr_gid;
	}
	return true;
}

static struct directory *
open_directory(const struct config *cfg, char *err, size_t errlen)
{
	struct directory_file_options o = {
		.path = cfg->users_file,
		.store_root = cfg->store_root,
	};
	struct directory *d;

	if (strcmp(cfg->directory, "ldap") == 0)
		return dir_ldap_open_config(cfg, err, errlen);
	if ((d = directory_file_open(&o)) == NULL)
		snprintf(err, errlen, "%s: cannot open users file %s", cfg->path,
		    cfg->users_file);
	return d;
}

/* Builds into srv everything that depends on cfg, reusing srv's current
 * listeners. On failure srv is unchanged. */
bool
server_prepare(struct server *srv, struct config *cfg, char *err, size_t errlen)
{
	struct server next = *srv;

	next.cfg = cfg;
	if (!resolve_service_user(&next, cfg, err, errlen))
		return false;
	next.tls = NULL;
	if (listeners_need_tls(cfg) &&
	    (next.tls = tls_ctx_new(cfg, err, errlen)) == NULL)
		return false;
	if ((next.dir = open_directory(cfg, err, errlen)) == NULL) {
		tls_ctx_free(next.tls);
		return false;
	}
	directory_preload(next.dir);
	next.listeners = listeners_open(cfg, srv->listeners, srv->nlisteners,
	    &next.nlisteners, err, errlen);
	if (next.listeners == NULL) {
		tls_ctx_free(next.tls);
		directory_close(next.dir);
		return false;
	}
	*srv = next;
	return true;
}

static void
spawn_worker(struct server *srv, struct sb_slot *slot)
{
	pid_t pid;

	memset(slot, 0, sizeof(*slot));
	slot->generation = srv->generation;
	slot->state = WS_STARTING;
	slot->since = time(NULL);
	if ((pid = fork()) < 0) {
		log_err("fork: %s", strerror(errno));
		slot->state = WS_FREE;
		spawn_pause_until = time(NULL) + 1;
		return;
	}
	if (pid == 0) {
		close(notify_pipe[0]);
		worker_main(srv, slot, notify_pipe[1]);
	}
	slot->pid = pid;
}

static struct sb_slot *
free_slot(struct scoreboard *sb)
{
	for (uint32_t i = 0; i < sb->nslots; i++)
		if (sb->slots[i].state == WS_FREE && sb->slots[i].pid == 0)
			return &sb->slots[i];
	return NULL;
}

static void
count_workers(const struct server *srv, int *spare, int *current)
{
	*spare = *current = 0;
	for (uint32_t i = 0; i < srv->sb->nslots; i++) {
		const struct sb_slot *s = &srv->sb->slots[i];

		if (s->pid == 0 || s->generation != srv->generation)
			continue;
		(*current)++;
		if (s->state == WS_IDLE || s->state == WS_STARTING)
			(*spare)++;
	}
}

static void
stop_one_idle(struct server *srv)
{
	for (uint32_t i = 0; i < srv->sb->nslots; i++) {
		struct sb_slot *s = &srv->sb->slots[i];

		if (s->pid > 0 && s->state == WS_IDLE &&
		    s->generation == srv->generation) {
			kill(s->pid, SIGUSR1);
			s->generation = (unsigned)-1; /* leaving; don't count it */
			return;
		}
	}
}

static void
maintain_pool(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	int spare, current;
	struct sb_slot *slot;

	count_workers(srv, &spare, &current);
	while (spare < cfg->min_spare_workers && current < cfg->max_workers &&
	    time(NULL) >= spawn_pause_until && (slot = free_slot(srv->sb))) {
		spawn_worker(srv, slot);
		spare++;
		current++;
	}
	if (spare > cfg->max_spare_workers)
		stop_one_idle(srv);
}

static void
note_exit(struct sb_slot *slot, pid_t pid, int status)
{
	bool abnormal = WIFSIGNALED(status) ||
	    (WIFEXITED(status) && WEXITSTATUS(status) != 0);

	if (!abnormal)
		return;
	if (WIFSIGNALED(status))
		log_warn("worker %ld killed by signal %d", (long)pid,
		    WTERMSIG(status));
	else
		log_warn("worker %ld exited with status %d", (long)pid,
		    WEXITSTATUS(status));
	if (slot == NULL || slot->state != WS_STARTING)
		return;
	/* Five failures within 10 s, not five over the daemon's life. */
	if (time(NULL) - failures_since > 10) {
		failures_since = time(NULL);
		recent_failures = 0;
	}
	if (++recent_failures >= 5) {
		log_err("workers fail at start; pausing respawn for 5 seconds");
		spawn_pause_until = time(NULL) + 5;
		recent_failures = 0;
	}
}

static void
reap_workers(struct server *srv)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct sb_slot *slot = NULL;

		for (uint32_t i = 0; i < srv->sb->nslots; i++)
			if (srv->sb->slots[i].pid == pid)
				slot = &srv->sb->slots[i];
		note_exit(slot, pid, status);
		if (slot)
			memset(slot, 0, sizeof(*slot));
	}
}

static void
signal_generation(struct server *srv, unsigned generation, int sig)
{
	for (uint32_t i = 0; i < srv->sb->nslots; i++) {
		struct sb_slot *s = &srv->sb->slots[i];

		if (s->pid > 0 && s->generation != srv->generation &&
		    (generation == (unsigned)-1 || s->generation == generation))
			kill(s->pid, sig);
	}
}

static void
server_release(struct server *old, const struct server *now)
{
	if (old->tls != now->tls)
		tls_ctx_free(old->tls);
	if (old->dir != now->dir)
		directory_close(old->dir);
	free(old->listeners);
	config_free(old->cfg);
}

static void
master_reload(struct server *srv)
{
	char err[512];
	struct config *cfg;
	struct server old = *srv;

	log_info("SIGHUP: reloading %s", srv->cfg->path);
	if ((cfg = config_load(srv->cfg->path, err, sizeof(err))) == NULL) {
		log_err("reload failed, keeping the running configuration: %s", err);
		return;
	}
	if (!server_prepare(srv, cfg, err, sizeof(err))) {
		log_err("reload failed, keeping the running configuration: %s", err);
		config_free(cfg);
		return;
	}
	psasl_set_directory(srv->dir);
	audit_configure(srv->cfg);
	srv->generation++;
	server_release(&old, srv);
	/* Old workers finish their sessions, then exit; idle ones go now. */
	signal_generation(srv, (unsigned)-1, SIGUSR1);
	log_info("reloaded; generation %u", srv->generation);
}

static bool
write_pid_file(const char *path)
{
	FILE *f;

	if (path == NULL || *path == '\0')
		return true;
	if ((f = fopen(path, "w")) == NULL) {
		log_err("pid file %s: %s", path, strerror(errno));
		return false;
	}
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f) == 0;
}

static int
live_workers(const struct server *srv)
{
	int n = 0;

	for (uint32_t i = 0; i < srv->sb->nslots; i++)
		n += srv->sb->slots[i].pid > 0;
	return n;
}

static void
master_shutdown(struct server *srv, const sigset_t *waitmask)
{
	time_t deadline = time(NULL) + srv->cfg->shutdown_timeout;

	log_info("stopping: %d workers finishing their sessions", live_workers(srv));
	listeners_close(srv->listeners, srv->nlisteners);
	srv->listeners = NULL;
	srv->nlisteners = 0;
	srv->generation++;
	signal_generation(srv, (unsigned)-1, SIGTERM);
	while (live_workers(srv) > 0 && time(NULL) < deadline) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 200000000 };

		ppoll(NULL, 0, &ts, waitmask);
		reap_workers(srv);
	}
	if (live_workers(srv) > 0) {
		log_warn("shutdown_timeout reached; killing %d workers",
		    live_workers(srv));
		signal_generation(srv, (unsigned)-1, SIGKILL);
		while (live_workers(srv) > 0 && waitpid(-1, NULL, 0) > 0)
			reap_workers(srv);
	}
}

static void
master_loop(struct server *srv, const sigset_t *waitmask)
{
	struct pollfd pfd = { .fd = notify_pipe[0], .events = POLLIN };
	char drain[256];

	while (!got_term) {
		struct timespec ts = { .tv_sec = 1, .tv_nsec = 0 };

		maintain_pool(srv);
		if (ppoll(&pfd, 1, &ts, waitmask) > 0)
			while (read(notify_pipe[0], drain, sizeof(drain)) > 0)
				;
		if (got_chld) {
			got_chld = 0;
			reap_workers(srv);
		}
		if (got_hup) {
			got_hup = 0;
			master_reload(srv);
		}
	}
}

static bool
master_init_sasl(const struct server *srv)
{
	const struct config *cfg = srv->cfg;
	/* SASL keeps these pointers for the life of the process. */
	static struct psasl_global_options o;

	o.service = cfg->krb5_service ? xstrdup(cfg->krb5_service) : "pop";
	o.mechanisms = xstrdup(cfg->sasl_mechanisms);
	o.keytab = cfg->krb5_keytab ? xstrdup(cfg->krb5_keytab) : NULL;
	o.realms = cfg->krb5_realms ? xstrdup(cfg->krb5_realms) : NULL;
	o.proxy_users = cfg->sasl_proxy_users ? xstrdup(cfg->sasl_proxy_users) : NULL;
	return psasl_global_init(&o, srv->dir);
}

int
master_run(struct config *cfg, bool foreground)
{
	struct server srv = { .foreground = foreground };
	sigset_t waitmask;
	char err[512];

	master_signals(&waitmask);
	if (!server_prepare(&srv, cfg, err, sizeof(err)))
		fatal("%s", err);
	if (!master_init_sasl(&srv))
		fatal("cannot initialise Cyrus SASL");
	audit_configure(srv.cfg);
	if (pipe2(notify_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		fatal("pipe: %s", strerror(errno));
	/* Room for a full pool plus the previous generation while it drains. */
	srv.sb = scoreboard_create(cfg->state_dir, 2 * cfg->max_workers);
	srv.throttle = throttle_create((unsigned)cfg->throttle_entries);
	write_pid_file(cfg->pid_file);
	log_info("started; %d listeners, workers run as uid %ld",
	    srv.nlisteners, (long)(srv.drop_privileges ? srv.uid : geteuid()));
	master_loop(&srv, &waitmask);
	master_shutdown(&srv, &waitmask);
	if (srv.cfg->pid_file)
		unlink(srv.cfg->pid_file);
	log_info("stopped");
	tls_ctx_free(srv.tls);
	directory_close(srv.dir);
	scoreboard_destroy(srv.sb);
	throttle_destroy(srv.throttle);
	config_free(srv.cfg);
	return 0;
}
