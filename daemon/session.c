#include "config.h"

#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "daemon/audit.h"
#include "daemon/cmdline.h"
#include "daemon/commands.h"
#include "daemon/listener.h"
#include "daemon/maildrop.h"
#include "daemon/proxy.h"
#include "daemon/session.h"
#include "daemon/tls.h"
#include "directory/directory.h"
#include "policy/policy.h"
#include "sasl/kpop.h"

#define BOTH (POP_AUTHORIZATION | POP_TRANSACTION)

/* One table for the whole protocol: which state admits which command. */
static const struct command commands[] = {
	{ "CAPA", BOTH, cmd_capa },
	{ "QUIT", BOTH, cmd_quit },
	{ "STLS", POP_AUTHORIZATION, cmd_stls },
	{ "USER", POP_AUTHORIZATION, cmd_user },
	{ "PASS", POP_AUTHORIZATION, cmd_pass },
	{ "AUTH", POP_AUTHORIZATION, cmd_auth },
	{ "STAT", POP_TRANSACTION, cmd_stat },
	{ "LIST", POP_TRANSACTION, cmd_list },
	{ "UIDL", POP_TRANSACTION, cmd_uidl },
	{ "RETR", POP_TRANSACTION, cmd_retr },
	{ "TOP", POP_TRANSACTION, cmd_top },
	{ "DELE", POP_TRANSACTION, cmd_dele },
	{ "RSET", POP_TRANSACTION, cmd_rset },
	{ "NOOP", POP_TRANSACTION, cmd_noop },
};

const struct command *
command_find(const char *keyword)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcasecmp(commands[i].name, keyword) == 0)
			return &commands[i];
	return NULL;
}

void
reply_ok(struct session *s, const char *fmt, ...)
{
	char text[480];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	io_printf(&s->io, "+OK%s%s\r\n", *text ? " " : "", text);
}

void
reply_err(struct session *s, enum resp_code rc, const char *fmt, ...)
{
	char text[480];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	io_printf(&s->io, "-ERR %s%s\r\n", resp_code_tag(rc), text);
}

bool
session_cleartext_ok(const struct session *s)
{
	struct policy_conn pc = {
		.mode = s->listener->mode,
		.tls_active = s->ssl != NULL,
		.client = (const struct sockaddr *)&s->peer,
		.cfg = s->cfg,
	};

	return policy_cleartext_allowed(&pc);
}

void
session_auth_attempt(struct session *s, const char *mech, const char *login)
{
	char *p;

	directory_forget(s->srv->dir);
	snprintf(s->auth_mech, sizeof(s->auth_mech), "%s", mech);
	for (p = s->auth_mech; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	free(s->auth_login);
	s->auth_login = login ? xstrdup(login) : NULL;
}

/* A fresh SASL connection: at start, after STLS (new security facts) and
 * after a failed exchange. */
void
session_sasl_reset(struct session *s)
{
	char local[80], remote[80];
	struct psasl_conn_options o = {
		.fqdn = s->cfg->hostname,
		.local_ipport = local,
		.remote_ipport = remote,
		.tls_ssf = s->ssl ? tls_ssf(s->ssl) : 0,
		.cleartext_ok = session_cleartext_ok(s),
		.cbind = s->have_cbind ? &s->cbind : NULL,
	};

	snprintf(local, sizeof(local), "%s;%d", s->local_addr, s->local_port);
	snprintf(remote, sizeof(remote), "%s;%d", s->peer_addr, s->peer_port);
	psasl_free(s->sasl);
	s->sasl = psasl_new(&o);
}

static void
session_init(struct session *s, struct server *srv, struct sb_slot *slot,
    const struct listener *l, int fd, const struct sockaddr_storage *peer)
{
	unsigned char rnd[8];
	socklen_t len = sizeof(s->local);
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->cfg = srv->cfg;
	s->listener = l;
	s->slot = slot;
	s->state = POP_AUTHORIZATION;
	s->peer = *peer;
	getsockname(fd, (struct sockaddr *)&s->local, &len);
	/* A flushed reply must not wait for Nagle and a delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	RAND_bytes(rnd, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
	/* Until login the shorter login_timeout holds, so that idle
	 * unauthenticated connections cannot pin the pool. */
	io_init(&s->io, fd, s->cfg->login_timeout * 1000);
	io_set_deadline(&s->io, s->cfg->login_timeout * 1000);
	io_socket_timeouts(&s->io);
}


static void
session_format_addrs(struct session *s)
{
	sockaddr_format((struct sockaddr *)&s->peer, s->peer_addr,
	    sizeof(s->peer_addr), &s->peer_port);
	sockaddr_format((struct sockaddr *)&s->local, s->local_addr,
	    sizeof(s->local_addr), &s->local_port);
}

/* Behind a load balancer: the real client comes in a PROXY header, which
 * only the configured balancers may send. */
static bool
session_proxy(struct session *s)
{
	struct proxy_addrs pa;
	char err[128], via[64];

	if (!netblock_list_match(s->cfg->proxy_networks, s->cfg->nproxy_networks,
	    (struct sockaddr *)&s->peer))
		return true;
	snprintf(via, sizeof(via), "%s", s->peer_addr);
	snprintf(s->proxy_addr, sizeof(s->proxy_addr), "%s", s->peer_addr);
	if (!proxy_read(s->io.fd, s->cfg->handshake_timeout * 1000, &pa, err,
	    sizeof(err))) {
		log_warn("from load balancer %s: %s", via, err);
		s->end_reason = "proxy-header";
		return false;
	}
	if (!pa.local) {
		s->peer = pa.src;
		s->local = pa.dst;
		session_format_addrs(s);
		log_info("client %s port %d via load balancer %s", s->peer_addr,
		    s->peer_port, via);
	}
	return true;
}

/* Implicit TLS (RFC 8314) before the greeting. */
static bool
session_start_tls(struct session *s)
{
	char err[256];

	scoreboard_set(s->slot, WS_HANDSHAKE, NULL, NULL);
	s->ssl = tls_accept(s->srv->tls, s->io.fd, s->cfg->handshake_timeout * 1000,
	    err, sizeof(err));
	scoreboard_set(s->slot, WS_AUTH, NULL, NULL);
	if (s->ssl == NULL) {
		log_info("%s", err);
		s->end_reason = "tls-handshake";
		return false;
	}
	io_set_ssl(&s->io, s->ssl);
	s->have_cbind = tls_channel_binding(s->ssl, &s->cbind);
	log_info("TLS %s %s", tls_version(s->ssl), tls_cipher(s->ssl));
	return true;
}

const char *
session_authid(const struct session *s)
{
	return s->kpop_principal ? s->kpop_principal : psasl_authid(s->sasl);
}

/* The login name a principal may use: the directory's answer where it can
 * look principals up (LDAP with ldap_principal_filter), else the realm
 * mapping the handshake made. */
static char *
kpop_directory_user(struct session *s, const char *principal,
    const char *mapped)
{
	struct user_record *u;
	char *name;

	if (directory_lookup_principal(s->srv->dir, principal, &u) != DIR_OK)
		return xstrdup(mapped);
	name = xstrdup(u->name);
	user_record_free(u);
	return name;
}

/* KPOP: Kerberos 5 sendauth before the greeting; the ticket is the
 * credential, USER must name the user it maps to. */
static bool
session_kpop(struct session *s)
{
	struct kpop_options o = {
		.keytab = s->cfg->krb5_keytab,
		.service = s->cfg->krb5_service,
		.realms = s->cfg->krb5_realms,
		.rcache_dir = s->cfg->state_dir,
		.timeout_ms = s->cfg->handshake_timeout * 1000,
	};
	struct kpop_result r;
	char err[256] = "";

	scoreboard_set(s->slot, WS_HANDSHAKE, NULL, NULL);
	session_auth_attempt(s, "KPOP", NULL);
	if (!kpop_handshake(s->io.fd, &o, &r, err, sizeof(err))) {
		log_info("KPOP handshake failed: %s", err);
		audit_auth(s, "KPOP", NULL, NULL, NULL, false, "kpop-handshake");
		s->end_reason = "kpop-handshake";
		return false;
	}
	s->kpop_principal = xstrdup(r.principal);
	s->kpop_user = kpop_directory_user(s, r.principal, r.user);
	scoreboard_set(s->slot, WS_AUTH, NULL, NULL);
	log_info("KPOP principal=%s maps to user=%s", r.principal, r.user);
	return true;
}

/* Handles one command line; false ends the session. */
static bool
session_command(struct session *s, char *line, size_t len)
{
	struct cmdline cl;
	const struct command *cmd;
	enum cmd_result r;

	switch (cmdline_parse(line, len, &cl)) {
	case CMDLINE_OK:
		break;
	case CMDLINE_NUL:
		reply_err(s, RC_NONE, "NUL byte in command");
		return ++s->bad_commands < s->cfg->bad_command_limit;
	default:
		reply_err(s, RC_NONE, "malformed command");
		return ++s->bad_commands < s->cfg->bad_command_limit;
	}
	if ((cmd = command_find(cl.keyword)) == NULL) {
		reply_err(s, RC_NONE, "unknown command");
		return ++s->bad_commands < s->cfg->bad_command_limit;
	}
	if (!(cmd->states & (int)s->state)) {
		reply_err(s, RC_NONE, "%s is not allowed %s", cmd->name,
		    s->state == POP_AUTHORIZATION ? "before login" : "after login");
		return ++s->bad_commands < s->cfg->bad_command_limit;
	}
	r = cmd->handler(s, cl.args);
	if (r == CMD_BAD)
		return ++s->bad_commands < s->cfg->bad_command_limit;
	return r != CMD_CLOSE;
}

static void
session_loop(struct session *s)
{
	char line[CMDLINE_MAX + 1];
	size_t len;

	for (;;) {
		enum io_status st;

		/* Flush only when the client's batch is consumed. */
		if (!io_input_pending(&s->io) && !io_flush(&s->io))
			return;
		st = io_read_line(&s->io, line, CMDLINE_MAX, &len);
		if (st == IO_TIMEOUT) {
			log_info("autologout after %d seconds idle",
			    s->io.timeout_ms / 1000);
			s->end_reason = "timeout";
			return;
		}
		if (st == IO_EOF || st == IO_ERROR) {
			s->end_reason = "disconnect";
			return;
		}
		if (st == IO_TOOLONG) {
			reply_err(s, RC_NONE, "line too long (max %d octets)", CMDLINE_MAX);
			if (++s->bad_commands >= s->cfg->bad_command_limit)
				break;
			continue;
		}
		bool go_on = session_command(s, line, len);
		OPENSSL_cleanse(line, len); /* PASS and AUTH lines hold secrets */
		if (!go_on)
			break;
	}
	if (s->bad_commands >= s->cfg->bad_command_limit) {
		reply_err(s, RC_NONE, "too many bad commands; closing");
		s->end_reason = "bad-commands";
	}
	io_flush(&s->io);
}

static void
session_end(struct session *s, int fd)
{
	audit_session_end(s, s->end_reason ? s->end_reason : "quit");
	if (s->md) {
		log_info("logout user=%s retrieved=%u deleted=%u in=%llu out=%llu",
		    s->user ? s->user->name : "?", s->retrieved,
		    s->deleted_committed, s->io.bytes_in, s->io.bytes_out);
		maildrop_close(s->md);
	}
	free(s->retrieved_flags);
	user_record_free(s->user);
	free_secret_str(s->pending_user);
	free(s->auth_login);
	free(s->kpop_principal);
	free(s->kpop_user);
	psasl_free(s->sasl);
	tls_close(s->ssl);
	io_free(&s->io);
	close(fd);
}

/* Everything before the greeting: PROXY header, TLS or KPOP handshake. */
static bool
session_open(struct session *s)
{
	if (!session_proxy(s))
		return false;
	scoreboard_set(s->slot, WS_AUTH, s->peer_addr, NULL);
	if (s->cfg->max_sessions_per_ip > 0 &&
	    scoreboard_count_client(s->srv->sb, s->peer_addr) >
	    s->cfg->max_sessions_per_ip) {
		log_warn("refused: more than %d sessions from %s",
		    s->cfg->max_sessions_per_ip, s->peer_addr);
		/* Only a pop3 client expects a POP3 line now; a TLS or KPOP
		 * client would take it for a broken handshake. */
		if (s->listener->mode == LISTEN_POP3) {
			reply_err(s, RC_SYS_TEMP,
			    "Too many connections from your address");
			io_flush(&s->io);
		}
		s->end_reason = "too-many-sessions";
		return false;
	}
	switch (s->listener->mode) {
	case LISTEN_POP3S:
		return session_start_tls(s);
	case LISTEN_KPOP:
		return session_kpop(s);
	default:
		return true;
	}
}

void
session_serve(struct server *srv, struct sb_slot *slot,
    const struct listener *l, int fd, const struct sockaddr_storage *peer)
{
	struct session *s = xmalloc(sizeof(*s));
	char prefix[40];

	session_init(s, srv, slot, l, fd, peer);
	session_format_addrs(s);
	snprintf(prefix, sizeof(prefix), "session %s: ", s->id);
	log_set_prefix(prefix);
	log_info("connect from %s port %d on %s", s->peer_addr, s->peer_port,
	    l->name);
	if (session_open(s)) {
		session_sasl_reset(s);
		reply_ok(s, "%s", s->cfg->greeting);
		session_loop(s);
	}
	session_end(s, fd);
	log_info("disconnect");
	log_set_prefix(NULL);
	free(s);
}
