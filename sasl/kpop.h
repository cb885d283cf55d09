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
 * reason for the log and audit.
 *
 * - Reads exactly the handshake's bytes from fd (never more), so call it
 *   before anything buffers input from the socket; fd may be blocking or
 *   not, its flags are left alone.
 * - Every message is capped at 64 KiB; timeout_ms (<= 0: 30 s) bounds the
 *   whole exchange, not each read.
 * - Accepts tickets for service/<any host> found in the keytab (NULL: the
 *   library default keytab), nothing else; service NULL means "pop".
 * - The client principal must map through principal_to_user() (realm in
 *   realms, no instance), else a KRB-ERROR is sent and false returned.
 * - The replay cache is libkrb5's default one; rcache_dir, if not NULL, is
 *   put in KRB5RCACHEDIR (setenv: single-threaded callers only) and must be
 *   writable by the calling (worker) user.
 * - Creates and frees its own krb5 context: nothing is kept between calls. */
bool kpop_handshake(int fd, const struct kpop_options *o,
    struct kpop_result *out, char *err, size_t errlen);

#endif
