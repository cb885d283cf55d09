#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/audit.h"
#include "daemon/commands.h"
#include "policy/throttle.h"

/* Shared failure counters in front of every credential check. */

static void
policy_of(const struct config *cfg, struct throttle_policy *p)
{
	p->failures = cfg->throttle_failures;
	p->block = cfg->throttle_block;
	p->window = cfg->throttle_window;
	p->delay = cfg->throttle_delay;
	p->max_delay = cfg->throttle_max_delay;
	p->cooldown = cfg->throttle_cooldown;
}

static void
key_for(char *buf, size_t len, const char *kind, const char *value)
{
	snprintf(buf, len, "%s:%s", kind, value);
}

/* May this client (and this user, if known) try credentials now? */
bool
gate_open(struct session *s, const char *user)
{
	struct throttle_policy p;
	char key[96];
	int secs = 0, usecs = 0;
	enum throttle_verdict v, uv = THROTTLE_OK;

	policy_of(s->cfg, &p);
	key_for(key, sizeof(key), "ip", s->peer_addr);
	v = throttle_check(s->srv->throttle, &p, key, &secs);
	if (user) {
		key_for(key, sizeof(key), "user", user);
		uv = throttle_check(s->srv->throttle, &p, key, &usecs);
	}
	if (v != THROTTLE_BLOCK && uv != THROTTLE_BLOCK)
		return true;
	if (usecs > secs)
		secs = usecs;
	log_info("throttled: too many authentication failures");
	audit_auth(s, s->auth_mech, s->auth_login, NULL, NULL, false, "throttled");
	reply_err(s, RC_SYS_TEMP, "Too many failed logins; try again in %d seconds",
	    secs);
	return false;
}

/* Counts a failure, then holds the answer back as the counters say. */
void
gate_failed(struct session *s, const char *user)
{
	struct throttle_policy p;
	char key[96];
	int secs = 0;

	policy_of(s->cfg, &p);
	key_for(key, sizeof(key), "ip", s->peer_addr);
	throttle_fail(s->srv->throttle, &p, key);
	if (throttle_check(s->srv->throttle, &p, key, &secs) == THROTTLE_DELAY &&
	    secs > 0) {
		io_flush(&s->io);
		sleep((unsigned)secs);
	}
	if (user) {
		key_for(key, sizeof(key), "user", user);
		throttle_fail(s->srv->throttle, &p, key);
	}
}

void
gate_passed(struct session *s, const char *user)
{
	char key[96];

	key_for(key, sizeof(key), "user", user);
	throttle_reset(s->srv->throttle, key);
}
