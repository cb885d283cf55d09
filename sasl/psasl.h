#ifndef POSTERN_PSASL_H
#define POSTERN_PSASL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/resp.h"

struct directory;

/* Postern's glue to Cyrus SASL. All authentication, USER/PASS included,
 * goes through here. */

struct psasl_global_options {
	const char *service;     /* "pop" */
	const char *mechanisms;  /* offered, in order, e.g. "SCRAM-SHA-256 PLAIN" */
	const char *keytab;      /* GSSAPI acceptor keytab, may be NULL */
	const char *realms;      /* realms stripped from principals */
	const char *proxy_users; /* may log in as any user (authzid) */
};

/* Channel binding data taken from the TLS session. */
struct psasl_cbind {
	const char *name;        /* "tls-exporter" or "tls-unique" */
	unsigned char data[64];
	size_t len;
};

struct psasl_conn_options {
	const char *fqdn;
	const char *local_ipport;   /* "127.0.0.1;110" */
	const char *remote_ipport;
	unsigned tls_ssf;           /* 0 without TLS */
	bool cleartext_ok;          /* policy: PLAIN allowed now */
	const struct psasl_cbind *cbind; /* NULL without TLS */
};

enum psasl_status {
	PSASL_OK,
	PSASL_CONTINUE,   /* send the challenge "+ <b64>" */
	PSASL_FAIL,       /* see rc: RC_AUTH, RC_SYS_TEMP, ... */
	PSASL_NOMECH,     /* unknown or not offered now */
};

/* Once, in the master, before forking: copies the options, initialises
 * libsasl2 (plugins load now), registers the auxprop plugin and draws the
 * secret behind the fake SCRAM verifiers, so every worker agrees on them.
 * dir is used in the workers. False (after logging why) on failure. */
bool psasl_global_init(const struct psasl_global_options *o,
    struct directory *dir);
/* At process exit (tests, clean shutdown): sasl_server_done and cleanup. */
void psasl_global_done(void);
/* After a reload in the master: the directory the workers look users up in. */
void psasl_set_directory(struct directory *dir);

/* One per connection and TLS state: after STLS free it and make a new one
 * (the external SSF, the channel binding and the policy change). NULL
 * (logged) if libsasl2 refuses; every function below accepts that NULL
 * (no mechanisms, PSASL_FAIL with RC_SYS_TEMP). */
struct psasl *psasl_new(const struct psasl_conn_options *o);
void psasl_free(struct psasl *s);

/* Mechanisms offered on this connection now, space-separated, in the
 * configured order; "" if none. Valid until psasl_free. */
const char *psasl_mechlist(struct psasl *s);

/* AUTH mech [initial-response]. in/inlen are the decoded bytes;
 * has_initial=false: no initial response; has_initial with inlen 0: "=".
 * PSASL_CONTINUE: send "+ " and the base64 of out (outlen may be 0; out
 * stays valid until the next call on s), then feed the client's decoded
 * reply to psasl_step. PSASL_OK: authenticated, see psasl_username.
 * PSASL_FAIL: *rc says RC_AUTH (credentials, same for every cause) or
 * RC_SYS_TEMP (server trouble, logged here); RC_NONE if called after a
 * success. PSASL_NOMECH: mech not offered on this connection now. */
enum psasl_status psasl_start(struct psasl *s, const char *mech,
    const unsigned char *in, size_t inlen, bool has_initial,
    const unsigned char **out, size_t *outlen, enum resp_code *rc);
/* The next client response of the exchange psasl_start began. Same
 * results (never PSASL_NOMECH); PSASL_FAIL with RC_NONE if no exchange
 * is under way. */
enum psasl_status psasl_step(struct psasl *s, const unsigned char *in,
    size_t inlen, const unsigned char **out, size_t *outlen,
    enum resp_code *rc);
/* The client cancelled ("*"): forget the exchange. */
void psasl_cancel(struct psasl *s);
/* USER/PASS: the same check PLAIN makes. PSASL_OK or PSASL_FAIL with
 * RC_AUTH / RC_SYS_TEMP; refused (RC_AUTH) when cleartext_ok is false. */
enum psasl_status psasl_checkpass(struct psasl *s, const char *user,
    const char *pass, enum resp_code *rc);
/* After PSASL_OK: the authorized user name and the authenticated identity
 * (both canonical, listed realms stripped), and the mechanism ("USER"
 * after psasl_checkpass). NULL before. Valid until psasl_free. */
const char *psasl_username(struct psasl *s);
const char *psasl_authid(struct psasl *s);
const char *psasl_mechname(struct psasl *s);
/* The authentication identity the client claimed in the last exchange
 * (canonical), whether or not it succeeded; NULL if it gave none. For the
 * audit and the per-user throttle after a failure; not a proven name. */
const char *psasl_claimed(struct psasl *s);
/* Why the last exchange failed, for the audit log ("" if unknown). Never
 * contains secrets; not for the client. */
const char *psasl_errdetail(struct psasl *s);

#endif
