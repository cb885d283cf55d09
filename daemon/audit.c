#include "config.h"

/* First cut of the audit trail: events as key=value lines through the
 * daemon's syslog connection. */

#include <stdio.h>

#include "common/log.h"
#include "daemon/audit.h"
#include "daemon/commands.h"
#include "daemon/listener.h"

void
audit_configure(const struct config *cfg)
{
	(void)cfg;
}

bool
audit_auth(const struct session *s, const char *mech, const char *login,
    const char *authid, const char *authzid, bool ok, const char *reason)
{
	log_info("audit event=auth result=%s reason=%s mech=%s login=\"%s\" "
	    "authid=\"%s\" authzid=\"%s\" client=%s", ok ? "ok" : "fail", reason,
	    mech ? mech : "", login ? login : "", authid ? authid : "",
	    authzid ? authzid : "", s->peer_addr);
	return true;
}

void
audit_message(const struct session *s, const char *action, const char *uidl,
    off_t size)
{
	log_info("audit event=%s uidl=%s size=%lld client=%s", action, uidl,
	    (long long)size, s->peer_addr);
}

void
audit_session_end(const struct session *s, const char *reason)
{
	log_info("audit event=logout reason=%s in=%llu out=%llu", reason,
	    s->io.bytes_in, s->io.bytes_out);
}
