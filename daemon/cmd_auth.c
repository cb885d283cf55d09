#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "common/base64.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "daemon/audit.h"
#include "daemon/cmdline.h"
#include "daemon/commands.h"
#include "daemon/listener.h"
#include "daemon/maildrop.h"
#include "daemon/tls.h"

#define TLS_REQUIRED "Cleartext authentication is not allowed here without TLS; use STLS first"

static void
capa_common(struct session *s)
{
	io_puts(&s->io, "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
	int expire = session_expire_days(s);

	if (expire < 0)
		io_puts(&s->io, "EXPIRE NEVER\r\n");
	else
		io_printf(&s->io, "EXPIRE %d\r\n", expire);
	io_printf(&s->io, "LOGIN-DELAY %d\r\n", s->cfg->login_delay);
}

enum cmd_result
cmd_capa(struct session *s, char *args)
{
	if (*args)
		return reply_err(s, RC_NONE, "CAPA takes no argument"), CMD_BAD;
	reply_ok(s, "Capability list follows");
	capa_common(s);
	if (s->state == POP_AUTHORIZATION) {
		const char *mechs = s->sasl ? psasl_mechlist(s->sasl) : "";

		if (s->kpop_user || session_cleartext_ok(s))
			io_puts(&s->io, "USER\r\n");
		if (s->listener->mode == LISTEN_KPOP)
			mechs = NULL;
		if (mechs && *mechs)
			io_printf(&s->io, "SASL %s\r\n", mechs);
		if (s->listener->mode != LISTEN_POP3S && s->ssl == NULL &&
		    s->srv->tls != NULL)
			io_puts(&s->io, "STLS\r\n");
	}
	io_printf(&s->io, "IMPLEMENTATION %s-%s\r\n.\r\n", PACKAGE_NAME,
	    PACKAGE_VERSION);
	return CMD_DONE;
}

enum cmd_result
cmd_stls(struct session *s, char *args)
{
	char err[256];
	size_t junk;

	if (*args)
		return reply_err(s, RC_NONE, "STLS takes no argument"), CMD_BAD;
	if (s->ssl)
		return reply_err(s, RC_NONE, "TLS is already active"), CMD_BAD;
	if (s->listener->mode == LISTEN_POP3S || s->srv->tls == NULL)
		return reply_err(s, RC_NONE, "STLS is not available"), CMD_BAD;
	reply_ok(s, "Begin TLS negotiation");
	if (!io_flush(&s->io))
		return CMD_CLOSE;
	/* Anything sent after STLS but before the handshake was not
	 * protected; executing it inside TLS would be a command injection. */
	if ((junk = io_discard_input(&s->io)) > 0)
		log_warn("discarded %zu bytes sent in the clear after STLS", junk);
	s->ssl = tls_accept(s->srv->tls, s->io.fd, s->cfg->handshake_timeout * 1000,
	    err, sizeof(err));
	if (s->ssl == NULL) {
		log_info("STLS: %s", err);
		return CMD_CLOSE;
	}
	io_set_ssl(&s->io, s->ssl);
	s->have_cbind = tls_channel_binding(s->ssl, &s->cbind);
	free_secret_str(s->pending_user);
	s->pending_user = NULL;
	session_sasl_reset(s);
	log_info("STLS: %s %s", tls_version(s->ssl), tls_cipher(s->ssl));
	return CMD_DONE;
}

static enum cmd_result
refuse_cleartext(struct session *s)
{
	audit_auth(s, s->auth_mech, s->auth_login, NULL, NULL, false,
	    "tls-required");
	reply_err(s, RC_AUTH, TLS_REQUIRED);
	return CMD_BAD;
}

/* KPOP: the ticket authenticated a principal; USER may only name the
 * user that principal maps to (krb5_kuserok is not the rule here). */
static enum cmd_result
kpop_user(struct session *s, char *args)
{
	session_auth_attempt(s, "KPOP", args);
	if (strcmp(args, s->kpop_user) != 0) {
		log_info("KPOP principal %s may not log in as \"%s\"",
		    s->kpop_principal, args);
		audit_auth(s, "KPOP", args, s->kpop_principal, NULL, false,
		    "principal-mismatch");
		reply_err(s, RC_AUTH, "Your Kerberos principal may not use this maildrop");
		return CMD_BAD;
	}
	free_secret_str(s->pending_user);
	s->pending_user = xstrdup(args);
	reply_ok(s, "send PASS");
	return CMD_DONE;
}

/* KPOP clients send a dummy PASS ("krb_ticket"): the ticket was the proof. */
static enum cmd_result
kpop_pass(struct session *s, char *args)
{
	char *user = s->pending_user;
	enum cmd_result r;

	OPENSSL_cleanse(args, strlen(args));
	if (user == NULL)
		return reply_err(s, RC_NONE, "USER first"), CMD_BAD;
	s->pending_user = NULL;
	r = session_login(s, user);
	free(user);
	return r;
}

enum cmd_result
cmd_user(struct session *s, char *args)
{
	if (s->kpop_user)
		return kpop_user(s, args);
	if (!session_cleartext_ok(s)) {
		session_auth_attempt(s, "USER", args);
		return refuse_cleartext(s);
	}
	if (*args == '\0')
		return reply_err(s, RC_NONE, "USER needs a name"), CMD_BAD;
	free_secret_str(s->pending_user);
	s->pending_user = xstrdup(args);
	reply_ok(s, "send PASS");
	return CMD_DONE;
}

static enum cmd_result
auth_failed(struct session *s, enum resp_code rc)
{
	bool creds = rc == RC_AUTH || rc == RC_NONE;
	const char *claimed = psasl_claimed(s->sasl);

	if (s->auth_login == NULL && claimed != NULL)
		s->auth_login = xstrdup(claimed);
	log_info("auth failed mech=%s user=\"%s\" code=%s", s->auth_mech,
	    s->auth_login ? s->auth_login : "", creds ? "AUTH" : resp_code_tag(rc));
	audit_auth(s, s->auth_mech, s->auth_login, NULL, NULL, false,
	    creds ? "bad-credentials" : "temp-failure");
	if (creds)
		gate_failed(s, s->auth_login);
	if (creds)
		reply_err(s, RC_AUTH, "Authentication failed");
	else
		reply_err(s, rc, "Authentication is temporarily unavailable");
	session_sasl_reset(s);
	return CMD_DONE;
}

enum cmd_result
cmd_pass(struct session *s, char *args)
{
	enum resp_code rc = RC_AUTH;
	enum psasl_status st;
	char *user = s->pending_user;

	if (s->kpop_user)
		return kpop_pass(s, args);
	if (user == NULL)
		return reply_err(s, RC_NONE, "USER first"), CMD_BAD;
	s->pending_user = NULL;
	session_auth_attempt(s, "USER", user);
	if (!session_cleartext_ok(s)) {
		free_secret_str(user);
		OPENSSL_cleanse(args, strlen(args));
		return refuse_cleartext(s);
	}
	if (!gate_open(s, user)) {
		free_secret_str(user);
		OPENSSL_cleanse(args, strlen(args));
		return CMD_DONE;
	}
	st = psasl_checkpass(s->sasl, user, args, &rc);
	OPENSSL_cleanse(args, strlen(args));
	free_secret_str(user);
	if (st != PSASL_OK)
		return auth_failed(s, rc);
	return session_login(s, psasl_username(s->sasl));
}

static enum cmd_result
auth_list(struct session *s)
{
	const char *mechs = psasl_mechlist(s->sasl);
	char *copy = xstrdup(mechs ? mechs : ""), *p = copy, *m;

	reply_ok(s, "Supported mechanisms follow");
	while ((m = next_arg(&p)) != NULL)
		io_printf(&s->io, "%s\r\n", m);
	io_puts(&s->io, ".\r\n");
	free(copy);
	return CMD_DONE;
}

/* Decodes one client response; "=" alone is an empty response. */
static bool
auth_decode(const char *text, unsigned char **out, size_t *outlen)
{
	size_t n = strlen(text);
	long r;

	*out = xmalloc(n / 4 * 3 + 1);
	if (strcmp(text, "=") == 0) {
		*outlen = 0;
		return true;
	}
	if (n == 0 || (r = base64_decode(text, n, *out)) < 0) {
		free(*out);
		*out = NULL;
		return false;
	}
	*outlen = (size_t)r;
	return true;
}

static void
auth_challenge(struct session *s, const unsigned char *out, size_t outlen)
{
	char *b64 = xmalloc(base64_encoded_len(outlen) + 1);

	base64_encode(out, outlen, b64);
	io_printf(&s->io, "+ ");
	io_puts(&s->io, b64);
	io_puts(&s->io, "\r\n");
	free(b64);
}

enum auth_read { AUTH_READ_OK, AUTH_READ_ABORT, AUTH_READ_BAD, AUTH_READ_GONE };

/* Reads the client's answer to a challenge. */
static enum auth_read
auth_read_response(struct session *s, unsigned char **in, size_t *inlen)
{
	char *line = xmalloc(AUTHLINE_MAX + 1);
	enum auth_read r = AUTH_READ_OK;
	size_t len;

	if (!io_flush(&s->io))
		r = AUTH_READ_GONE;
	else if (io_read_line(&s->io, line, AUTHLINE_MAX, &len) != IO_LINE)
		r = AUTH_READ_GONE;
	else if (strcmp(line, "*") == 0)
		r = AUTH_READ_ABORT;
	else if (strlen(line) != len) {
		r = AUTH_READ_BAD;
	} else if (len == 0) {
		/* RFC 5034: an empty line is an empty response. */
		*in = xmalloc(1);
		*inlen = 0;
	} else if (!auth_decode(line, in, inlen))
		r = AUTH_READ_BAD;
	freezero(line, AUTHLINE_MAX + 1);
	return r;
}

static enum cmd_result
auth_exchange(struct session *s, enum psasl_status st,
    const unsigned char *out, size_t outlen, enum resp_code rc)
{
	while (st == PSASL_CONTINUE) {
		unsigned char *in = NULL;
		size_t inlen = 0;

		auth_challenge(s, out, outlen);
		switch (auth_read_response(s, &in, &inlen)) {
		case AUTH_READ_GONE:
			return CMD_CLOSE;
		case AUTH_READ_ABORT:
			audit_auth(s, s->auth_mech, NULL, NULL, NULL, false, "aborted");
			reply_err(s, RC_NONE, "Authentication aborted");
			session_sasl_reset(s);
			return CMD_DONE;
		case AUTH_READ_BAD:
			audit_auth(s, s->auth_mech, NULL, NULL, NULL, false, "bad-base64");
			reply_err(s, RC_NONE, "Invalid base64 data");
			session_sasl_reset(s);
			return CMD_BAD;
		case AUTH_READ_OK:
			break;
		}
		st = psasl_step(s->sasl, in, inlen, &out, &outlen, &rc);
		freezero(in, inlen);
	}
	if (st != PSASL_OK)
		return auth_failed(s, rc);
	/* Failures were counted under the claimed name: a user blocked by
	 * guesses from many addresses stays blocked, as with USER/PASS. */
	if (!gate_open(s, psasl_authid(s->sasl))) {
		session_sasl_reset(s);
		return CMD_DONE;
	}
	return session_login(s, psasl_username(s->sasl));
}

enum cmd_result
cmd_auth(struct session *s, char *args)
{
	char *mech = next_arg(&args), *ir = next_arg(&args);
	unsigned char *in = NULL;
	size_t inlen = 0, outlen = 0;
	const unsigned char *out = NULL;
	enum resp_code rc = RC_AUTH;
	enum psasl_status st;

	if (s->listener->mode == LISTEN_KPOP)
		return reply_err(s, RC_NONE, "AUTH is not available on KPOP; "
		    "the Kerberos ticket authenticates"), CMD_BAD;
	if (mech == NULL)
		return auth_list(s);
	if (*args)
		return reply_err(s, RC_NONE, "too many arguments"), CMD_BAD;
	session_auth_attempt(s, mech, NULL);
	if (strcasecmp(mech, "PLAIN") == 0 && !session_cleartext_ok(s))
		return refuse_cleartext(s);
	if (!gate_open(s, NULL))
		return CMD_DONE;
	if (ir && !auth_decode(ir, &in, &inlen))
		return reply_err(s, RC_NONE, "Invalid base64 data"), CMD_BAD;
	st = psasl_start(s->sasl, mech, in, inlen, ir != NULL, &out, &outlen, &rc);
	freezero(in, inlen);
	if (st == PSASL_NOMECH) {
		session_sasl_reset(s);
		return reply_err(s, RC_NONE, "Unsupported mechanism"), CMD_BAD;
	}
	return auth_exchange(s, st, out, outlen, rc);
}

/* The messages QUIT is about to remove, for the audit trail: the maildrop
 * forgets them once they are gone. */
struct removal {
	char *uidl;
	off_t size;
};

static struct removal *
removals_collect(const struct maildrop *md, size_t *n)
{
	struct removal *r = xcalloc(md->count, sizeof(*r));

	*n = 0;
	for (size_t i = 0; i < md->count; i++)
		if (md->msgs[i].deleted) {
			r[*n].uidl = xstrdup(md->msgs[i].uidl);
			r[(*n)++].size = md->msgs[i].size;
		}
	return r;
}

static void
removals_audit_free(struct session *s, struct removal *r, size_t n, bool done)
{
	for (size_t i = 0; i < n; i++) {
		if (done)
			audit_message(s, "dele", r[i].uidl, r[i].size);
		free(r[i].uidl);
	}
	free(r);
}

enum cmd_result
cmd_quit(struct session *s, char *args)
{
	enum resp_code rc = RC_NONE;
	struct removal *r;
	size_t failed, n;

	(void)args;
	s->end_reason = "quit";
	if (s->state == POP_AUTHORIZATION) {
		reply_ok(s, "Bye");
		return CMD_CLOSE;
	}
	/* UPDATE state. EXPIRE 0: what was retrieved goes as well. */
	if (session_expire_days(s) == 0)
		for (size_t i = 0; i < s->md->count; i++)
			if (s->retrieved_flags[i])
				maildrop_mark_deleted(s->md, i);
	r = removals_collect(s->md, &n);
	failed = maildrop_commit(s->md, &rc);
	removals_audit_free(s, r, n, failed == 0);
	if (failed > 0) {
		reply_err(s, rc, "%zu deleted messages were not removed", failed);
		return CMD_CLOSE;
	}
	s->deleted_committed = (unsigned)n;
	reply_ok(s, "Bye (%zu messages left)", s->md->live_count);
	return CMD_CLOSE;
}
