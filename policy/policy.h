#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include <stdbool.h>
#include <sys/socket.h>

#include "common/conf.h"

/* What a connection may do right now. */
struct policy_conn {
	enum listener_mode mode;
	bool tls_active;
	const struct sockaddr *client;
	const struct config *cfg;
};

/* May a cleartext credential (USER/PASS, AUTH PLAIN) be accepted now?
 * Only under TLS, from a configured trusted network, or where the
 * administrator explicitly allowed cleartext. */
bool policy_cleartext_allowed(const struct policy_conn *pc);

#endif
