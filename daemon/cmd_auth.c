#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "common/base64.h"
#include "common/log.h"
#include "common/xmalloc.h"
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
	if (s->cfg->expire_days < 0)
		io_puts(&s->io, "EXPIRE NEVER\r\n");
	else
		io_printf(&s->io, "EXPIRE %d\r\n", s->cfg->expire_days);
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

		if (session_cleartext_ok(s))
			io_puts(&s->io, "USER\r\n");
		if (mechs && *mechs)
			io_printf(&s->io, "SASL %s\r\n", mechs);
		if (s->listener->mode != LISTEN_POP3S && s->ssl == NULL)
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
	s->ssl = tls_accept(s->srv->tls, s->io.fd, s->cfg->idle_timeout * 1000,
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

enum cmd_result
cmd_user(struct session *s, char *args)
{
	if (!session_cleartext_ok(s))
		return reply_err(s, RC_AUTH, TLS_REQUIRED), CMD_BAD;
	if (*args == '\0')
		return reply_err(s, RC_NONE, "USER needs a name"), CMD_BAD;
	free_secret_str(s->pending_user);
	s->pending_user = xstrdup(args);
	reply_ok(s, "send PASS");
	return CMD_DONE;
}

static enum cmd_result
auth_failed(struct session *s, const char *mech, const char *name,
    enum resp_code rc)
{
	log_info("auth failed mech=%s user=\"%s\" code=%s", mech,
	    name ? name : "", rc == RC_AUTH ? "AUTH" : resp_code_tag(rc));
	if (rc == RC_AUTH || rc == RC_NONE)
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

	if (user == NULL)
		return reply_err(s, RC_NONE, "USER first"), CMD_BAD;
	s->pending_user = NULL;
	if (!session_cleartext_ok(s)) {
		free_secret_str(user);
		return reply_err(s, RC_AUTH, TLS_REQUIRED), CMD_BAD;
	}
	st = psasl_checkpass(s->sasl, user, args, &rc);
	OPENSSL_cleanse(args, strlen(args));
	if (st != PSASL_OK) {
		auth_failed(s, "USER", user, rc);
		free_secret_str(user);
		return CMD_DONE;
	}
	free_secret_str(user);
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
auth_exchange(struct session *s, const char *mech, enum psasl_status st,
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
			reply_err(s, RC_NONE, "Authentication aborted");
			session_sasl_reset(s);
			return CMD_DONE;
		case AUTH_READ_BAD:
			reply_err(s, RC_NONE, "Invalid base64 data");
			session_sasl_reset(s);
			return CMD_BAD;
		case AUTH_READ_OK:
			break;
		}
		st = psasl_step(s->sasl, in, inlen, &out, &outlen, &rc);
		freezero(in, inlen);
	}
	if (st == PSASL_OK)
		return session_login(s, psasl_username(s->sasl));
	return auth_failed(s, mech, NULL, rc);
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

	if (mech == NULL)
		return auth_list(s);
	if (*args)
		return reply_err(s, RC_NONE, "too many arguments"), CMD_BAD;
	if (strcasecmp(mech, "PLAIN") == 0 && !session_cleartext_ok(s))
		return reply_err(s, RC_AUTH, TLS_REQUIRED), CMD_BAD;
	if (ir && !auth_decode(ir, &in, &inlen))
		return reply_err(s, RC_NONE, "Invalid base64 data"), CMD_BAD;
	st = psasl_start(s->sasl, mech, in, inlen, ir != NULL, &out, &outlen, &rc);
	freezero(in, inlen);
	if (st == PSASL_NOMECH) {
		session_sasl_reset(s);
		return reply_err(s, RC_NONE, "Unsupported mechanism"), CMD_BAD;
	}
	return auth_exchange(s, mech, st, out, outlen, rc);
}

enum cmd_result
cmd_quit(struct session *s, char *args)
{
	enum resp_code rc = RC_NONE;
	size_t failed;

	(void)args;
	if (s->state == POP_AUTHORIZATION) {
		reply_ok(s, "Bye");
		return CMD_CLOSE;
	}
	/* UPDATE state. */
	failed = maildrop_commit(s->md, &rc);
	if (failed > 0) {
		reply_err(s, rc, "%zu deleted messages were not removed", failed);
		return CMD_CLOSE;
	}
	s->deleted_committed = (unsigned)(s->md->count - s->md->live_count);
	reply_ok(s, "Bye (%zu messages left)", s->md->live_count);
	return CMD_CLOSE;
}
