#include "config.h"

/* Glue to Cyrus SASL 2.1.28, server side, per connection: the handle, the
 * mechanism list offered, the AUTH exchange and USER/PASS. All of it runs
 * in the workers. The options and global callbacks are in psasl_global.c,
 * the GSSAPI acceptor credentials in psasl_gss.c.
 *
 * libsasl2 traps this file works around (PROTOCOLS.md §3; the others are
 * listed in psasl_global.c):
 * - The user_realm argument would append "@realm" to every name: NULL, and
 *   configured realms are stripped by our canon_user callback instead.
 * - The channel binding is stored by pointer: the handle keeps the copy.
 * - Debian's GSSAPI plugin advertises a bogus GSSAPI-PLUS: the mechanism
 *   list is built here, with -PLUS only for SCRAM-*. */

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "sasl/checkpass.h"
#include "sasl/psasl.h"
#include "sasl/psasl_int.h"

/* Connections */

/* Mechanisms that send the password itself: offered only when the policy
 * says cleartext is fine now (normally: under TLS). */
static bool
psasl_policy_allows(const struct psasl *s, const char *mech)
{
	if (strcmp(mech, "PLAIN") == 0)
		return s->cleartext_ok;
	return true;
}

/* Per connection, only mech_list differs: libsasl2 reads it in
 * sasl_server_new(), so a mechanism the policy forbids is not even
 * loaded for this connection. Other options fall through to the global
 * callback. */
static int
psasl_conn_getopt(void *context, const char *plugin, const char *option,
    const char **result, unsigned *len)
{
	struct psasl *s = context;

	(void)plugin;
	if (s == NULL || option == NULL || result == NULL ||
	    strcmp(option, "mech_list") != 0)
		return SASL_FAIL;
	*result = s->mech_list;
	if (len != NULL)
		*len = (unsigned)strlen(s->mech_list);
	return SASL_OK;
}

/* The global canonicalizer, noting the identity the client claims: a
 * failed exchange is then audited and throttled under that name, as a
 * failed USER/PASS is. */
static int
psasl_conn_canon_user(sasl_conn_t *conn, void *context, const char *in,
    unsigned inlen, unsigned flags, const char *user_realm, char *out,
    unsigned out_max, unsigned *out_len)
{
	struct psasl *s = context;
	int r;

	r = psasl_canon_user(conn, NULL, in, inlen, flags, user_realm, out,
	    out_max, out_len);
	if (r == SASL_OK && s != NULL && (flags & SASL_CU_AUTHID) &&
	    *out_len < sizeof(s->claimed)) {
		memcpy(s->claimed, out, *out_len);
		s->claimed[*out_len] = '\0';
	}
	return r;
}

static void
psasl_conn_callbacks(struct psasl *s)
{
	sasl_callback_t *cb = s->callbacks;

	cb[0] = (sasl_callback_t){ SASL_CB_GETOPT,
	    PSASL_CB(psasl_conn_getopt), s };
	cb[1] = (sasl_callback_t){ SASL_CB_LOG, PSASL_CB(psasl_log_cb), s };
	cb[2] = (sasl_callback_t){ SASL_CB_SERVER_USERDB_CHECKPASS,
	    PSASL_CB(checkpass_cb), &s->st };
	cb[3] = (sasl_callback_t){ SASL_CB_CANON_USER,
	    PSASL_CB(psasl_conn_canon_user), s };
	cb[4] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
}

static bool
psasl_conn_open(struct psasl *s, const struct psasl_conn_options *o)
{
	int r;

	r = sasl_server_new(psasl_opt.service, o->fqdn, NULL,
	    o->local_ipport, o->remote_ipport, s->callbacks, 0, &s->conn);
	if (r == SASL_BADPARAM &&
	    (o->local_ipport != NULL || o->remote_ipport != NULL)) {
		/* libsasl2 wants "a.b.c.d;port"; only mechanisms we never
		 * offer (DIGEST-MD5) use the addresses, so go without. */
		log_debug("sasl: addresses \"%s\" \"%s\" refused, ignored",
		    o->local_ipport ? o->local_ipport : "",
		    o->remote_ipport ? o->remote_ipport : "");
		r = sasl_server_new(psasl_opt.service, o->fqdn, NULL, NULL,
		    NULL, s->callbacks, 0, &s->conn);
	}
	if (r != SASL_OK) {
		log_err("sasl: sasl_server_new: %s",
		    sasl_errstring(r, NULL, NULL));
		s->conn = NULL;
		return false;
	}
	return true;
}

/* Copies the binding: libsasl2 keeps only the pointer. Non-critical, so
 * clients without binding data (mpop, Cyrus' own for non-PLUS) still get
 * in, while a "y" flag is caught as a downgrade. */
static void
psasl_conn_cbind(struct psasl *s, const struct psasl_cbind *cb)
{
	if (cb == NULL || cb->name == NULL || cb->len == 0)
		return;
	if (cb->len > sizeof(s->cbind_data) ||
	    strlen(cb->name) >= sizeof(s->cbind_name)) {
		log_warn("sasl: channel binding %s too long, not used",
		    cb->name);
		return;
	}
	snprintf(s->cbind_name, sizeof(s->cbind_name), "%s", cb->name);
	memcpy(s->cbind_data, cb->data, cb->len);
	s->cbind = (sasl_channel_binding_t){ s->cbind_name, 0, cb->len,
	    s->cbind_data };
	s->has_cbind = true;
}

static bool
psasl_conn_props(struct psasl *s, const struct psasl_conn_options *o)
{
	sasl_ssf_t ssf = o->tls_ssf;
	sasl_security_properties_t sp;
	int r;

	memset(&sp, 0, sizeof(sp));
	/* max_ssf 0 refuses every SASL security layer: GSSAPI's integrity
	 * and confidentiality layers are refused at negotiation (only "no
	 * layer" is offered), since POP3 has no framing for them here and
	 * TLS does that job. ANONYMOUS never makes sense for a maildrop. */
	sp.min_ssf = 0;
	sp.max_ssf = 0;
	sp.maxbufsize = 0;
	sp.security_flags = SASL_SEC_NOANONYMOUS;
	if (!o->cleartext_ok)
		sp.security_flags |= SASL_SEC_NOPLAINTEXT;
	if ((r = sasl_setprop(s->conn, SASL_SSF_EXTERNAL, &ssf)) != SASL_OK ||
	    (r = sasl_setprop(s->conn, SASL_SEC_PROPS, &sp)) != SASL_OK) {
		log_err("sasl: sasl_setprop: %s",
		    sasl_errstring(r, NULL, NULL));
		return false;
	}
	return true;
}

/* The mechanism list */

/* Is w (case-insensitively) one of the space-separated words of list? */
static bool
psasl_word_in(const char *list, const char *w)
{
	size_t n = strlen(w), len;

	while (*(list += strspn(list, " ")) != '\0') {
		len = strcspn(list, " ");
		if (len == n && strncasecmp(list, w, n) == 0)
			return true;
		list += len;
	}
	return false;
}

static void
psasl_append(char *list, const char *w)
{
	if (list[0] != '\0')
		strcat(list, " ");
	strcat(list, w);
}

/* The configured order, cut down to what libsasl2 can do on this
 * connection and the policy allows, with X-PLUS right before X for SCRAM
 * when there is a channel binding. Never GSSAPI-PLUS (see the top). */
static char *
psasl_offer_build(struct psasl *s)
{
	const char *avail = NULL, *m;
	char plus[SASL_MECHNAMEMAX + 6], *out;
	size_t i;
	int r;

	r = sasl_listmech(s->conn, NULL, "", " ", "", &avail, NULL, NULL);
	if (r != SASL_OK || avail == NULL) {
		if (r != SASL_NOMECH)
			log_warn("sasl: sasl_listmech: %s",
			    sasl_errstring(r, NULL, NULL));
		avail = "";
	}
	/* Each word kept is one of avail's, at most doubled by -PLUS. */
	out = xcalloc(1, 2 * strlen(avail) + 6 * PSASL_MAXMECHS + 1);
	for (i = 0; (m = psasl_opt.mechs[i]) != NULL; i++) {
		if (!psasl_policy_allows(s, m) || !psasl_word_in(avail, m))
			continue;
		/* Every SCRAM plugin binds (SASL_FEAT_CHANNEL_BINDING). */
		if (s->has_cbind && strncmp(m, "SCRAM-", 6) == 0) {
			snprintf(plus, sizeof(plus), "%s-PLUS", m);
			psasl_append(out, plus);
		}
		psasl_append(out, m);
	}
	return out;
}

struct psasl *
psasl_new(const struct psasl_conn_options *o)
{
	struct psasl *s;
	int r;

	if (!psasl_opt.inited) {
		log_err("sasl: psasl_new before psasl_global_init");
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->cleartext_ok = o->cleartext_ok;
	s->mech_list = psasl_mechs_join(psasl_policy_allows, s);
	psasl_conn_callbacks(s);
	if (!psasl_conn_open(s, o) || !psasl_conn_props(s, o)) {
		psasl_free(s);
		return NULL;
	}
	psasl_conn_cbind(s, o->cbind);
	/* Listed before the binding is set: with one, libsasl2 2.1.28's
	 * sasl_listmech() overruns its buffer by a separator whenever
	 * every mechanism listed has a -PLUS variant (server.c sizes it for
	 * 2n-2 separators and writes 2n-1). */
	s->offered = psasl_offer_build(s);
	if (s->has_cbind &&
	    (r = sasl_setprop(s->conn, SASL_CHANNEL_BINDING, &s->cbind)) !=
	    SASL_OK) {
		log_err("sasl: SASL_CHANNEL_BINDING: %s",
		    sasl_errstring(r, NULL, NULL));
		psasl_free(s);
		return NULL;
	}
	return s;
}

void
psasl_free(struct psasl *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL)
		sasl_dispose(&s->conn);
	free(s->mech_list);
	free(s->offered);
	free(s->username);
	free(s->authid);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

const char *
psasl_mechlist(struct psasl *s)
{
	return s != NULL ? s->offered : "";
}

/* Is mech offered now? If so, its canonical (upper case) name goes to
 * s->mech. */
static bool
psasl_offered(struct psasl *s, const char *mech)
{
	size_t i, n = strlen(mech);

	if (n == 0 || n > SASL_MECHNAMEMAX ||
	    !psasl_word_in(psasl_mechlist(s), mech))
		return false;
	for (i = 0; i < n; i++)
		s->mech[i] = (char)toupper((unsigned char)mech[i]);
	s->mech[n] = '\0';
	return true;
}

/* The exchange */

static void
psasl_begin(const unsigned char **out, size_t *outlen,
    enum resp_code *rc)
{
	if (out != NULL)
		*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	*rc = RC_NONE;
}

static void
psasl_reset(struct psasl *s)
{
	s->active = false;
	s->st.tempfail = false;
	s->detail[0] = '\0';
	s->claimed[0] = '\0';
	/* SASL_PLUGERR would otherwise still hold the last attempt's. */
	sasl_seterror(s->conn, SASL_NOLOG, "%s", "");
}

/* psasl_new() failed and the session went on: a server problem. */
static enum psasl_status
psasl_no_conn(enum resp_code *rc)
{
	*rc = RC_SYS_TEMP;
	return PSASL_FAIL;
}

static enum psasl_status
psasl_misuse(struct psasl *s, const char *what)
{
	snprintf(s->detail, sizeof(s->detail), "%s", what);
	log_warn("sasl: %s", what);
	return PSASL_FAIL;
}

static enum resp_code
psasl_rc(const struct psasl *s, int r)
{
	/* The directory failed along the way: whatever libsasl2 made of
	 * it (often NOUSER), the client is not to blame. */
	if (s->st.tempfail)
		return RC_SYS_TEMP;
	switch (r) {
	case SASL_BADAUTH:
	case SASL_NOUSER:
	case SASL_NOAUTHZ:
	case SASL_BADBINDING:
	case SASL_BADPROT:
	case SASL_BADPARAM:
	case SASL_BUFOVER:
	case SASL_TRANS:
	case SASL_EXPIRED:
	case SASL_DISABLED:
	case SASL_PWLOCK:
	case SASL_NOVERIFY:
		return RC_AUTH;
	default:
		/* FAIL (GSSAPI: no keytab or key), UNAVAIL, TRYAGAIN,
		 * NOMEM, and anything a library bug may return. */
		return RC_SYS_TEMP;
	}
}

static enum psasl_status
psasl_failure(struct psasl *s, int r, enum resp_code *rc)
{
	const void *perr = NULL;

	*rc = psasl_rc(s, r);
	if (s->st.tempfail) {
		/* What libsasl2 made of it ("user not found") would mislead
		 * whoever reads the log during an outage. */
		snprintf(s->detail, sizeof(s->detail), "directory unavailable");
		log_warn("sasl: %s failed: directory unavailable", s->mech);
		return PSASL_FAIL;
	}
	if (sasl_getprop(s->conn, SASL_PLUGERR, &perr) == SASL_OK &&
	    perr != NULL && *(const char *)perr != '\0')
		snprintf(s->detail, sizeof(s->detail), "%s",
		    (const char *)perr);
	if (*rc == RC_SYS_TEMP)
		log_warn("sasl: %s failed: %s: %s", s->mech,
		    sasl_errstring(r, NULL, NULL), s->detail);
	else
		log_debug("sasl: %s failed: %s: %s", s->mech,
		    sasl_errstring(r, NULL, NULL), s->detail);
	return PSASL_FAIL;
}

static enum psasl_status
psasl_success(struct psasl *s, enum resp_code *rc)
{
	const void *user = NULL, *authid = NULL;

	if (sasl_getprop(s->conn, SASL_USERNAME, &user) != SASL_OK ||
	    user == NULL)
		return psasl_failure(s, SASL_FAIL, rc);
	if (sasl_getprop(s->conn, SASL_AUTHUSER, &authid) != SASL_OK ||
	    authid == NULL)
		authid = user;
	free(s->username);
	free(s->authid);
	s->username = xstrdup(user);
	s->authid = xstrdup(authid);
	s->done = true;
	return PSASL_OK;
}

static enum psasl_status
psasl_result(struct psasl *s, int r, bool starting, const char *o,
    unsigned olen, const unsigned char **out, size_t *outlen,
    enum resp_code *rc)
{
	s->active = false;
	switch (r) {
	case SASL_CONTINUE:
		/* Includes SCRAM's server-final "v=...": POP3 has no success
		 * data (RFC 5034 §4), so it goes out as a challenge and the
		 * client's empty answer completes the exchange. */
		s->active = true;
		*out = (const unsigned char *)(o != NULL ? o : "");
		*outlen = o != NULL ? olen : 0;
		return PSASL_CONTINUE;
	case SASL_OK:
		return psasl_success(s, rc);
	case SASL_NOMECH:
	case SASL_TOOWEAK:
	case SASL_ENCRYPT:
		if (starting)
			return PSASL_NOMECH;
		break;
	}
	return psasl_failure(s, r, rc);
}

/* A client that chose X-PLUS must send a "p=" GS2 header (RFC 5802 §6);
 * libsasl2 would treat "n" or "y" under X-PLUS as if X had been chosen.
 * Checked on the client's first message. */
static bool
psasl_plus_ok(struct psasl *s, const unsigned char *in, size_t inlen)
{
	if (!s->want_p)
		return true;
	s->want_p = false;
	if (inlen >= 2 && in[0] == 'p' && in[1] == '=')
		return true;
	snprintf(s->detail, sizeof(s->detail),
	    "%s without a channel binding", s->mech);
	return false;
}

/* libsasl2 wants client data NUL-terminated (sasl.h); the session's
 * decoded bytes need not be. */
static char *
psasl_copy_in(const unsigned char *in, size_t inlen)
{
	char *buf = xmalloc(inlen + 1);

	if (inlen > 0)
		memcpy(buf, in, inlen);
	buf[inlen] = '\0';
	return buf;
}

enum psasl_status
psasl_start(struct psasl *s, const char *mech, const unsigned char *in,
    size_t inlen, bool has_initial, const unsigned char **out,
    size_t *outlen, enum resp_code *rc)
{
	const char *o = NULL;
	unsigned olen = 0;
	char *buf = NULL;
	int r;

	psasl_begin(out, outlen, rc);
	if (s == NULL)
		return psasl_no_conn(rc);
	if (s->done)
		return psasl_misuse(s, "AUTH after authentication");
	psasl_reset(s);
	if (mech == NULL || !psasl_offered(s, mech))
		return PSASL_NOMECH;
	if (inlen >= UINT_MAX || (!has_initial && inlen > 0)) {
		*rc = RC_AUTH;
		return psasl_misuse(s, "bad initial response");
	}
	if (strcmp(s->mech, "GSSAPI") == 0 &&
	    !psasl_gss_ready(s, has_initial, inlen, rc))
		return PSASL_FAIL;
	s->want_p = psasl_is_plus(s->mech);
	if (has_initial && inlen > 0 && !psasl_plus_ok(s, in, inlen)) {
		*rc = RC_AUTH;
		return PSASL_FAIL;
	}
	if (has_initial)
		buf = psasl_copy_in(in, inlen);
	r = sasl_server_start(s->conn, s->mech, buf, has_initial ?
	    (unsigned)inlen : 0, &o, &olen);
	if (buf != NULL)
		freezero(buf, inlen + 1);
	return psasl_result(s, r, true, o, olen, out, outlen, rc);
}

enum psasl_status
psasl_step(struct psasl *s, const unsigned char *in, size_t inlen,
    const unsigned char **out, size_t *outlen, enum resp_code *rc)
{
	const char *o = NULL;
	unsigned olen = 0;
	char *buf;
	int r;

	psasl_begin(out, outlen, rc);
	if (s == NULL)
		return psasl_no_conn(rc);
	if (!s->active)
		return psasl_misuse(s, "SASL step without an exchange");
	if (inlen >= UINT_MAX) {
		s->active = false;
		*rc = RC_AUTH;
		return psasl_misuse(s, "SASL response too long");
	}
	if (!psasl_plus_ok(s, in, inlen)) {
		s->active = false;
		*rc = RC_AUTH;
		return PSASL_FAIL;
	}
	buf = psasl_copy_in(in, inlen);
	r = sasl_server_step(s->conn, buf, (unsigned)inlen, &o, &olen);
	freezero(buf, inlen + 1);
	return psasl_result(s, r, false, o, olen, out, outlen, rc);
}

void
psasl_cancel(struct psasl *s)
{
	if (s == NULL)
		return;
	if (s->active)
		snprintf(s->detail, sizeof(s->detail), "cancelled by client");
	s->active = false;
}

enum psasl_status
psasl_checkpass(struct psasl *s, const char *user, const char *pass,
    enum resp_code *rc)
{
	size_t ulen, plen;
	int r;

	psasl_begin(NULL, NULL, rc);
	if (s == NULL)
		return psasl_no_conn(rc);
	if (s->done)
		return psasl_misuse(s, "PASS after authentication");
	psasl_reset(s);
	snprintf(s->mech, sizeof(s->mech), "USER");
	*rc = RC_AUTH;
	if (!s->cleartext_ok) {
		snprintf(s->detail, sizeof(s->detail),
		    "cleartext password refused by policy");
		return PSASL_FAIL;
	}
	if (user == NULL || pass == NULL)
		return psasl_misuse(s, "USER/PASS without a name or password");
	ulen = strlen(user);
	plen = strlen(pass);
	if (ulen >= UINT_MAX || plen >= UINT_MAX)
		return psasl_misuse(s, "USER/PASS too long");
	*rc = RC_NONE;
	r = sasl_checkpass(s->conn, user, (unsigned)ulen, pass, (unsigned)plen);
	if (r == SASL_OK)
		return psasl_success(s, rc);
	return psasl_failure(s, r, rc);
}

const char *
psasl_username(struct psasl *s)
{
	return s != NULL && s->done ? s->username : NULL;
}

const char *
psasl_authid(struct psasl *s)
{
	return s != NULL && s->done ? s->authid : NULL;
}

const char *
psasl_claimed(struct psasl *s)
{
	return s != NULL && s->claimed[0] != '\0' ? s->claimed : NULL;
}

const char *
psasl_mechname(struct psasl *s)
{
	return s != NULL && s->done ? s->mech : NULL;
}

const char *
psasl_errdetail(struct psasl *s)
{
	return s != NULL ? s->detail : "";
}
