#ifndef POSTERN_KPOP_H
#define POSTERN_KPOP_H

#include <stdbool.h>
#include <stddef.h>

/* KPOP (port 1109): the Kerberos 5 sendauth exchange that fetchmail's
 * "--protocol KPOP" performs before any POP3 byte. See PROTOCOLS.md §1. */

struct kpop_options {
	const char *keytab;     /* acceptor keytab, readable by the worker */
	const char *service;    /* "pop": only service tickets for it are accepted */
	const char *realms;     /* space-separated realms stripped to map a principal */
	const char *rcache_dir; /* replay cache on local disk, never the store */
	int timeout_ms;         /* whole handshake deadline */
};

struct kpop_result {
	char principal[256];    /* client principal, e.g. "alice@EXAMPLE.ORG" */
	char user[256];         /* mapped login name, e.g. "alice" */
};

/* Runs the server side on fd. On failure the client has been sent a
 * KRB-ERROR or a sendauth status when the protocol allows, and err holds a
 * reason for the log and audit. */
bool kpop_handshake(int fd, const struct kpop_options *o,
    struct kpop_result *out, char *err, size_t errlen);

#endif
