#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "daemon/audit.h"
#include "daemon/commands.h"
#include "daemon/maildrop.h"
#include "directory/directory.h"

/* The last login time lives in the maildrop, under the session lock, so
 * that LOGIN-DELAY holds across workers and hosts sharing the store. */
static bool
login_too_soon(struct session *s, int delay)
{
	char *path = xasprintf("%s/postern.lastlogin", s->md->path);
	struct stat st;
	time_t now = time(NULL);
	bool soon = false;
	int fd;

	if (stat(path, &st) == 0 && now - st.st_mtime < delay && now >= st.st_mtime)
		soon = true;
	else if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0) {
		futimens(fd, NULL);
		close(fd);
	}
	free(path);
	return soon;
}

int
session_expire_days(const struct session *s)
{
	if (s->user && s->user->expire_days == USER_EXPIRE_NEVER)
		return -1;
	if (s->user && s->user->expire_days >= 0)
		return s->user->expire_days;
	return s->cfg->expire_days;
}

static int
effective_login_delay(const struct session *s)
{
	return s->user->login_delay >= 0 ? s->user->login_delay : s->cfg->login_delay;
}

/* Opens and locks the maildrop; false (answered, reason noted) if not. */
static bool
login_open_maildrop(struct session *s)
{
	enum resp_code rc = RC_SYS_TEMP;
	char err[256] = "";

	s->md = maildrop_open(s->user->maildrop, &rc, err, sizeof(err));
	if (s->md == NULL) {
		log_warn("user=%s maildrop %s: %s", s->user->name,
		    s->user->maildrop, err);
		if (rc == RC_IN_USE) {
			reply_err(s, rc, "Maildrop is in use by another session");
			s->md_fail_reason = "in-use";
		} else if (rc == RC_SYS_PERM) {
			reply_err(s, rc, "Maildrop is unusable; contact your administrator");
			s->md_fail_reason = "maildrop-unusable";
		} else {
			reply_err(s, RC_SYS_TEMP, "Maildrop is temporarily unavailable");
			s->md_fail_reason = "temp-failure";
		}
		return false;
	}
	return true;
}

static void
login_fail_cleanup(struct session *s, const char *reason)
{
	audit_auth(s, s->auth_mech, s->auth_login, session_authid(s),
	    s->user ? s->user->name : NULL, false, reason);
	if (s->md)
		maildrop_close(s->md);
	s->md = NULL;
	user_record_free(s->user);
	s->user = NULL;
	session_sasl_reset(s);
}

enum cmd_result
session_login(struct session *s, const char *name)
{
	enum dir_result dr;
	int delay;

	dr = directory_lookup(s->srv->dir, name, &s->user);
	if (dr != DIR_OK) {
		/* Authenticated but gone from the directory, or the directory
		 * failed between the two lookups. */
		log_warn("login user=\"%s\": directory lookup failed", name);
		reply_err(s, dr == DIR_TEMPFAIL ? RC_SYS_TEMP : RC_AUTH,
		    dr == DIR_TEMPFAIL ? "Directory unavailable" : "Authentication failed");
		login_fail_cleanup(s, dr == DIR_TEMPFAIL ? "temp-failure" : "unknown-user");
		return CMD_DONE;
	}
	if (!s->user->enabled) {
		log_info("login refused user=%s: account disabled", s->user->name);
		reply_err(s, RC_SYS_PERM, "Account disabled; contact your administrator");
		login_fail_cleanup(s, "disabled");
		return CMD_DONE;
	}
	if (s->user->no_access) {
		log_info("login refused user=%s: the directory's access rule "
		    "excludes POP", s->user->name);
		reply_err(s, RC_SYS_PERM, "POP access is not enabled for this account");
		login_fail_cleanup(s, "no-access");
		return CMD_DONE;
	}
	if (!login_open_maildrop(s)) {
		login_fail_cleanup(s, s->md_fail_reason);
		return CMD_DONE;
	}
	if ((delay = effective_login_delay(s)) > 0 && login_too_soon(s, delay)) {
		log_info("login refused user=%s: within LOGIN-DELAY", s->user->name);
		reply_err(s, RC_LOGIN_DELAY, "Minimum time between logins is %d seconds", delay);
		login_fail_cleanup(s, "login-delay");
		return CMD_DONE;
	}
	if (!audit_auth(s, s->auth_mech, s->auth_login, session_authid(s),
	    s->user->name, true, "ok")) {
		log_err("login refused user=%s: audit sink unavailable", s->user->name);
		reply_err(s, RC_SYS_TEMP, "Login is temporarily unavailable");
		maildrop_close(s->md);
		s->md = NULL;
		user_record_free(s->user);
		s->user = NULL;
		session_sasl_reset(s);
		return CMD_DONE;
	}
	s->retrieved_flags = xcalloc(s->md->count ? s->md->count : 1, 1);
	gate_passed(s, s->user->name);
	s->state = POP_TRANSACTION;
	s->io.timeout_ms = s->cfg->idle_timeout * 1000;
	io_set_deadline(&s->io, 0);
	io_socket_timeouts(&s->io);
	scoreboard_set(s->slot, WS_TRANS, NULL, s->user->name);
	log_info("login user=%s mech=%s tls=%s", s->user->name, s->auth_mech,
	    s->ssl ? "yes" : "no");
	reply_ok(s, "%s has %zu messages (%lld octets)", s->user->name,
	    s->md->live_count, (long long)s->md->live_size);
	return CMD_DONE;
}
