#include "config.h"

/*
 * KPOP: the server side of Kerberos 5 sendauth (PROTOCOLS.md §1), run on
 * a fresh connection before the POP3 greeting.  Runs in the unprivileged
 * worker.
 *
 * krb5_recvauth() is not used: its krb5_read_message() trusts a 32-bit
 * length from the network and has no timeout.  The framing is done here
 * instead, every message capped at KPOP_MAX_MSG and the whole exchange
 * bounded by one deadline, and only the AP-REQ goes to krb5_rd_req().
 *
 * Wire (C = client, S = server; "msg" = 4-byte big-endian length + bytes):
 *   C: msg "KRB5_SENDAUTH_V1.0\0"   C: msg "KPOPV1.0\0"
 *   S: one byte, 0 ok, 1 bad sendauth version, 2 bad application version
 *   C: msg AP-REQ
 *   S: msg of length 0 (ok) [+ msg AP-REP if mutual auth was asked for]
 *      or msg KRB-ERROR
 * Exactly the handshake's bytes are read, so the socket is left at the
 * first POP3 byte.
 */

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <krb5/krb5.h>

#include "common/clock.h"
#include "common/xmalloc.h"
#include "sasl/kpop.h"
#include "sasl/principal.h"

/* An AP-REQ is a ticket plus an authenticator: a few KiB even with a PAC
 * full of groups.  Anything bigger is not a sendauth client. */
#define KPOP_MAX_MSG		(64 * 1024)
#define KPOP_DEFAULT_TIMEOUT_MS	30000

static const char kpop_sendauth_version[] = "KRB5_SENDAUTH_V1.0";
static const char kpop_appl_version[] = "KPOPV1.0";

/* recvauth.c's one-byte answers to the two version strings. */
enum {
	KPOP_VERSION_OK = 0,
	KPOP_BAD_SENDAUTH_VERSION = 1,
	KPOP_BAD_APPL_VERSION = 2
};

struct kpop_conn {
	int fd;
	long long deadline;		/* clock_ms() */
	char *err;
	size_t errlen;
};

/* Everything krb5 hands out during one handshake, freed in one place. */
struct kpop_krb {
	krb5_context ctx;
	krb5_keytab kt;
	krb5_principal server;		/* "service/" matching any host */
	krb5_auth_context ac;
	krb5_ticket *ticket;
	krb5_flags ap_opts;
};

static bool __attribute__((format(printf, 2, 3)))
kpop_fail(struct kpop_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return false;
}

/* Socket I/O under the deadline */

/* Waits until fd is ready for events; false once the deadline passes. */
static bool
kpop_wait(struct kpop_conn *c, short events)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	int left, n;

	for (;;) {
		if ((left = clock_ms_left(c->deadline)) == 0)
			return kpop_fail(c, "handshake timed out");
		n = poll(&pfd, 1, left);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return kpop_fail(c, "poll: %s", strerror(errno));
	}
}

static bool
kpop_read(struct kpop_conn *c, void *buf, size_t len)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		if (!kpop_wait(c, POLLIN))
			return false;
		n = recv(c->fd, p, len, MSG_DONTWAIT);
		if (n == 0)
			return kpop_fail(c, "client closed the connection");
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return kpop_fail(c, "read: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool
kpop_write(struct kpop_conn *c, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		if (!kpop_wait(c, POLLOUT))
			return false;
		n = send(c->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return kpop_fail(c, "write: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads one length-prefixed message into a fresh buffer (*data, *len).
 * The buffer has one spare byte so that an empty message is not a NULL. */
static bool
kpop_read_msg(struct kpop_conn *c, const char *what, unsigned char **data,
    size_t *len)
{
	unsigned char hdr[4];
	uint32_t n;

	*data = NULL;
	if (!kpop_read(c, hdr, sizeof(hdr)))
		return false;
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (n > KPOP_MAX_MSG)
		return kpop_fail(c, "%s: length %lu is over the %d limit "
		    "(not a sendauth client)", what, (unsigned long)n,
		    KPOP_MAX_MSG);
	*data = xmalloc((size_t)n + 1);
	*len = n;
	if (!kpop_read(c, *data, n)) {
		free(*data);
		*data = NULL;
		return false;
	}
	return true;
}

static bool
kpop_write_msg(struct kpop_conn *c, const void *data, size_t len)
{
	unsigned char hdr[4];

	hdr[0] = (unsigned char)(len >> 24);
	hdr[1] = (unsigned char)(len >> 16);
	hdr[2] = (unsigned char)(len >> 8);
	hdr[3] = (unsigned char)len;
	return kpop_write(c, hdr, sizeof(hdr)) &&
	    (len == 0 || kpop_write(c, data, len));
}

/* The version strings */

/* True if the message is exactly want, its NUL included. */
static bool
kpop_read_version(struct kpop_conn *c, const char *what, const char *want,
    bool *match)
{
	unsigned char *data;
	size_t len;

	if (!kpop_read_msg(c, what, &data, &len))
		return false;
	*match = len == strlen(want) + 1 && memcmp(data, want, len) == 0;
	free(data);
	return true;
}

/* A bad sendauth version is answered at once, without waiting for the
 * second message: it is almost always a client that is not speaking
 * sendauth at all and may never send one. */
static bool
kpop_versions(struct kpop_conn *c)
{
	unsigned char status = KPOP_VERSION_OK;
	bool match;

	if (!kpop_read_version(c, "sendauth version", kpop_sendauth_version,
	    &match))
		return false;
	if (!match) {
		status = KPOP_BAD_SENDAUTH_VERSION;
		(void)kpop_write(c, &status, 1);
		return kpop_fail(c, "not a Kerberos 5 sendauth client "
		    "(bad sendauth version)");
	}
	if (!kpop_read_version(c, "application version", kpop_appl_version,
	    &match))
		return false;
	if (!match)
		status = KPOP_BAD_APPL_VERSION;
	if (!kpop_write(c, &status, 1))
		return false;
	if (!match)
		return kpop_fail(c, "application version is not %s",
		    kpop_appl_version);
	return true;
}

/* Kerberos */

static void
kpop_krb_free(struct kpop_krb *k)
{
	if (k->ctx == NULL)
		return;
	if (k->ticket != NULL)
		krb5_free_ticket(k->ctx, k->ticket);
	if (k->ac != NULL)
		krb5_auth_con_free(k->ctx, k->ac);
	if (k->server != NULL)
		krb5_free_principal(k->ctx, k->server);
	if (k->kt != NULL)
		krb5_kt_close(k->ctx, k->kt);
	krb5_free_context(k->ctx);
	memset(k, 0, sizeof(*k));
}

/* Copies the library's message for code (with the context's detail) into
 * the caller's error buffer. */
static bool
kpop_krb_fail(struct kpop_conn *c, struct kpop_krb *k, const char *what,
    krb5_error_code code)
{
	const char *msg = krb5_get_error_message(k->ctx, code);

	kpop_fail(c, "%s: %s", what, msg);
	krb5_free_error_message(k->ctx, msg);
	return false;
}

static const char *
kpop_service(const struct kpop_options *o)
{
	return o->service != NULL ? o->service : "pop";
}

/* "service/" with an empty host and realm and the host-based name type:
 * krb5_rd_req() then accepts a ticket for service/<any host> from the
 * keytab and refuses every other service, even one whose key the keytab
 * holds (a host/ ticket is "not for us"). */
static krb5_error_code
kpop_krb_init(struct kpop_krb *k, const struct kpop_options *o)
{
	krb5_error_code ret;

	if ((ret = krb5_build_principal(k->ctx, &k->server, 0, "",
	    kpop_service(o), "", (char *)NULL)) != 0)
		return ret;
	k->server->type = KRB5_NT_SRV_HST;
	ret = o->keytab != NULL ? krb5_kt_resolve(k->ctx, o->keytab, &k->kt) :
	    krb5_kt_default(k->ctx, &k->kt);
	if (ret != 0)
		return ret;
	return krb5_auth_con_init(k->ctx, &k->ac);
}

/* Belt and braces on top of the matching principal: the ticket's server
 * must be exactly two components, the first one our service. */
static bool
kpop_server_ok(const struct kpop_krb *k, const char *service)
{
	krb5_const_principal p = k->ticket->server;

	return p->length == 2 && p->data[0].length == strlen(service) &&
	    memcmp(p->data[0].data, service, p->data[0].length) == 0;
}

/* Sends a KRB-ERROR: the client prints its text ("server says ..."), so
 * the text is the library's generic message, never the detailed one
 * (that may name the keytab). */
static void
kpop_send_error(struct kpop_conn *c, struct kpop_krb *k, krb5_error_code code,
    const char *text)
{
	krb5_error e;
	krb5_data out = { 0 };
	long num = code - ERROR_TABLE_BASE_krb5;

	if (k->ctx == NULL || k->server == NULL)
		return;
	memset(&e, 0, sizeof(e));
	(void)krb5_us_timeofday(k->ctx, &e.stime, &e.susec);
	e.server = k->server;
	e.error = num >= 0 && num <= 127 ? (krb5_ui_4)num :
	    (krb5_ui_4)(KRB5KRB_ERR_GENERIC - ERROR_TABLE_BASE_krb5);
	e.text.data = (char *)text;
	e.text.length = (unsigned int)strlen(text) + 1;
	if (krb5_mk_error(k->ctx, &e, &out) != 0)
		return;
	(void)kpop_write_msg(c, out.data, out.length);
	krb5_free_data_contents(k->ctx, &out);
}

/* Decrypts and checks the AP-REQ; the replay cache is the library's
 * default ("dfl:"), placed in o->rcache_dir through KRB5RCACHEDIR. */
static krb5_error_code
kpop_rd_req(struct kpop_krb *k, const struct kpop_options *o,
    unsigned char *apreq, size_t len)
{
	krb5_data in;
	krb5_error_code ret;

	if (o->rcache_dir != NULL && setenv("KRB5RCACHEDIR", o->rcache_dir,
	    1) != 0)
		return errno;
	if ((ret = kpop_krb_init(k, o)) != 0)
		return ret;
	in.magic = KV5M_DATA;
	in.data = (char *)apreq;
	in.length = (unsigned int)len;
	ret = krb5_rd_req(k->ctx, &k->ac, &in, k->server, k->kt,
	    &k->ap_opts, &k->ticket);
	if (ret == 0 && !kpop_server_ok(k, kpop_service(o)))
		ret = KRB5KRB_AP_WRONG_PRINC;
	return ret;
}

/* The client principal, and its mapping to a local user. */
static bool
kpop_identify(struct kpop_conn *c, struct kpop_krb *k,
    const struct kpop_options *o, struct kpop_result *out)
{
	char *name;
	krb5_error_code ret;
	bool ok;

	ret = krb5_unparse_name(k->ctx, k->ticket->enc_part2->client, &name);
	if (ret != 0) {
		kpop_send_error(c, k, ret, error_message(ret));
		return kpop_krb_fail(c, k, "unparse client principal", ret);
	}
	ok = strlen(name) < sizeof(out->principal) &&
	    principal_to_user(name, o->realms, out->user, sizeof(out->user));
	if (ok)
		snprintf(out->principal, sizeof(out->principal), "%s", name);
	else {
		kpop_send_error(c, k, KRB5KRB_ERR_GENERIC,
		    "principal is not allowed to log in here");
		kpop_fail(c, "principal %.200s does not map to a user "
		    "(instance, or realm not in krb5_realms)", name);
	}
	krb5_free_unparsed_name(k->ctx, name);
	return ok;
}

/* Success: an empty message, then the AP-REP if the client asked for
 * mutual authentication (fetchmail always does). */
static bool
kpop_accept(struct kpop_conn *c, struct kpop_krb *k)
{
	krb5_data rep = { 0 };
	krb5_error_code ret;
	bool ok;

	if ((k->ap_opts & AP_OPTS_MUTUAL_REQUIRED) &&
	    (ret = krb5_mk_rep(k->ctx, k->ac, &rep)) != 0) {
		kpop_send_error(c, k, ret, error_message(ret));
		return kpop_krb_fail(c, k, "krb5_mk_rep", ret);
	}
	ok = kpop_write_msg(c, NULL, 0) &&
	    (rep.length == 0 || kpop_write_msg(c, rep.data, rep.length));
	krb5_free_data_contents(k->ctx, &rep);
	return ok;
}

static bool
kpop_authenticate(struct kpop_conn *c, struct kpop_krb *k,
    const struct kpop_options *o, struct kpop_result *out)
{
	unsigned char *apreq;
	size_t len;
	krb5_error_code ret;

	if (!kpop_read_msg(c, "AP-REQ", &apreq, &len))
		return false;
	ret = kpop_rd_req(k, o, apreq, len);
	free(apreq);
	if (ret != 0) {
		kpop_send_error(c, k, ret, error_message(ret));
		return kpop_krb_fail(c, k, "krb5_rd_req", ret);
	}
	return kpop_identify(c, k, o, out) && kpop_accept(c, k);
}

/* Public interface */

bool
kpop_handshake(int fd, const struct kpop_options *o,
    struct kpop_result *out, char *err, size_t errlen)
{
	struct kpop_conn c = { .fd = fd, .err = err, .errlen = errlen };
	struct kpop_krb k = { 0 };
	int ms = o->timeout_ms > 0 ? o->timeout_ms : KPOP_DEFAULT_TIMEOUT_MS;
	krb5_error_code ret;
	bool ok;

	memset(out, 0, sizeof(*out));
	if (errlen > 0)
		err[0] = '\0';
	c.deadline = clock_ms() + ms;
	if (!kpop_versions(&c))
		return false;
	if ((ret = krb5_init_context(&k.ctx)) != 0)
		return kpop_fail(&c, "krb5_init_context: %s",
		    error_message(ret));
	ok = kpop_authenticate(&c, &k, o, out);
	kpop_krb_free(&k);
	if (!ok)
		memset(out, 0, sizeof(*out));
	return ok;
}
