#ifndef POSTERN_AUDIT_H
#define POSTERN_AUDIT_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/conf.h"

struct session;

/* The audit trail: one structured syslog event per authentication attempt,
 * per message retrieved or deleted, and per session end. The schema is
 * documented in doc/postern-audit.7 and is stable. */

/* In the master: settings (socket path, facilities, audit_required).
 * Workers connect to the log socket lazily and reconnect after errors. */
void audit_configure(const struct config *cfg);

/* mech: "PLAIN", "SCRAM-SHA-256", "USER" (USER/PASS), "KPOP", ...
 * login: the name the client gave (untrusted: escaped, never trusted);
 * authid/authzid: what authentication established (NULL on failure);
 * result: "ok" or "fail"; reason: short machine-readable word
 * ("bad-credentials", "tls-required", "disabled", "in-use", "temp-failure",
 *  "login-delay", "aborted", ...).
 * Returns false when the event could not be written and audit_required is
 * set: the caller must then refuse the login with [SYS/TEMP]. */
bool audit_auth(const struct session *s, const char *mech, const char *login,
    const char *authid, const char *authzid, bool ok, const char *reason);
/* action: "retr", "top", "dele" (dele is logged when UPDATE commits it). */
void audit_message(const struct session *s, const char *action,
    const char *uidl, off_t size);
/* reason: "quit", "timeout", "disconnect", "bad-commands", "error". */
void audit_session_end(const struct session *s, const char *reason);

#endif
