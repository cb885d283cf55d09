#include "config.h"

/* Glue to Cyrus SASL 2.1.28, server side: the callbacks, the mechanism
 * list, the AUTH exchange and USER/PASS. psasl_global_init() runs as root
 * in the master before fork; everything else runs in the workers.
 *
 * libsasl2 traps this file works around (PROTOCOLS.md §3):
 * - sasl_server_init() keeps the callbacks pointer and ignores a second
 *   call's callbacks: they are static and registered once.
 * - Options we do not answer fall back to <appname>.conf: the config path
 *   points into /dev/null, so no file can ever be read.
 * - The user_realm argument would append "@realm" to every name: NULL, and
 *   configured realms are stripped by our canon_user callback instead.
 * - The channel binding is stored by pointer: the handle keeps the copy.
 * - Debian's GSSAPI plugin advertises a bogus GSSAPI-PLUS: the mechanism
 *   list is built here, with -PLUS only for SCRAM-*. */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "directory/verifier.h"
#include "sasl/auxprop.h"
#include "sasl/checkpass.h"
#include "sasl/psasl.h"

#define PSASL_APPNAME   "postern"
/* A "directory" that cannot exist: libsasl2 looks for its .conf there. */
#define PSASL_CONFPATH  "/dev/null"
#define PSASL_MAXMECHS  16
#define PSASL_MAXREALMS 16
#define PSASL_DETAILLEN 256
#define PSASL_XSTR(x)   #x
#define PSASL_STR(x)    PSASL_XSTR(x)

struct psasl {
	struct psasl_conn_state st;     /* context of the checkpass callback */
	sasl_conn_t *conn;
	sasl_callback_t callbacks[4];
	bool cleartext_ok;
	bool has_cbind;
	sasl_channel_binding_t cbind;   /* libsasl2 keeps this pointer */
	char cbind_name[32];
	unsigned char cbind_data[64];
	char *mech_list;                /* libsasl2's mech_list option */
	char *offered;                  /* psasl_mechlist() */
	char mech[SASL_MECHNAMEMAX + 1];/* of the exchange under way */
	bool active;                    /* an exchange waits for psasl_step */
	bool want_p;                    /* -PLUS: client-first must bind */
	bool done;                      /* authenticated */
	char *username;
	char *authid;
	char detail[PSASL_DETAILLEN];   /* last failure, for the log */
};

static struct {
	bool inited;
	char *service;
	char *keytab;
	char *mechs[PSASL_MAXMECHS + 1];        /* upper case, no -PLUS */
	char *realms[PSASL_MAXREALMS + 1];
	char *mech_list;                        /* the above, joined */
} psasl_opt;

/* Acceptor credentials from the keytab, acquired in the worker the first
 * time GSSAPI is used and kept for the life of the process. */
static gss_cred_id_t psasl_gss_cred = GSS_C_NO_CREDENTIAL;

/* Options and words */

/* Splits s at spaces and commas into at most max words in out[]. */
static size_t
psasl_split(const char *s, char **out, size_t max, const char *what)
{
	const char *sep = " \t,";
	size_t n = 0, len;

	while (s != NULL && *(s += strspn(s, sep)) != '\0') {
		len = strcspn(s, sep);
		if (n == max)
			log_warn("sasl: too many %s, ignoring \"%.*s\"", what,
			    (int)len, s);
		else
			out[n++] = xstrndup(s, len);
		s += len;
	}
	out[n] = NULL;
	return n;
}

static bool
psasl_mech_valid(const char *m)
{
	size_t n = strlen(m);

	if (n == 0 || n > SASL_MECHNAMEMAX)
		return false;
	return strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

static bool
psasl_is_plus(const char *m)
{
	size_t n = strlen(m);

	return n > 5 && strcmp(m + n - 5, "-PLUS") == 0;
}

/* Keeps the valid configured names, upper case, once each, without -PLUS
 * (those follow their base mechanism automatically). */
static void
psasl_mechs_clean(void)
{
	size_t i, j, k = 0;
	char *m;

	for (i = 0; (m = psasl_opt.mechs[i]) != NULL; i++) {
		for (j = 0; m[j] != '\0'; j++)
			m[j] = (char)toupper((unsigned char)m[j]);
		for (j = 0; j < k && strcmp(psasl_opt.mechs[j], m) != 0; j++)
			;
		if (!psasl_mech_valid(m) || psasl_is_plus(m) || j < k ||
		    (strcmp(m, "GSSAPI") == 0 && psasl_opt.keytab == NULL)) {
			/* -PLUS variants follow their base mechanism;
			 * GSSAPI needs a keytab. */
			log_warn("sasl: mechanism \"%s\" ignored", m);
			free(m);
			continue;
		}
		psasl_opt.mechs[k++] = m;
	}
	psasl_opt.mechs[k] = NULL;
}

/* The configured mechanisms joined by spaces, filtered by keep(). */
static char *
psasl_mechs_join(bool (*keep)(const struct psasl *, const char *),
    const struct psasl *s)
{
	size_t i, len = 1;
	char *out;

	for (i = 0; psasl_opt.mechs[i] != NULL; i++)
		len += strlen(psasl_opt.mechs[i]) + 1;
	out = xcalloc(1, len);
	for (i = 0; psasl_opt.mechs[i] != NULL; i++) {
		if (keep != NULL && !keep(s, psasl_opt.mechs[i]))
			continue;
		if (out[0] != '\0')
			strcat(out, " ");
		strcat(out, psasl_opt.mechs[i]);
	}
	return out;
}

static void
psasl_options_set(const struct psasl_global_options *o)
{
	psasl_opt.service = xstrdup(o->service != NULL ? o->service : "pop");
	psasl_opt.keytab = o->keytab != NULL && o->keytab[0] != '\0' ?
	    xstrdup(o->keytab) : NULL;
	psasl_split(o->mechanisms, psasl_opt.mechs, PSASL_MAXMECHS,
	    "mechanisms");
	psasl_mechs_clean();
	psasl_split(o->realms, psasl_opt.realms, PSASL_MAXREALMS, "realms");
	psasl_opt.mech_list = psasl_mechs_join(NULL, NULL);
}

static void
psasl_options_free(void)
{
	size_t i;

	for (i = 0; psasl_opt.mechs[i] != NULL; i++)
		free(psasl_opt.mechs[i]);
	for (i = 0; psasl_opt.realms[i] != NULL; i++)
		free(psasl_opt.realms[i]);
	free(psasl_opt.service);
	free(psasl_opt.keytab);
	free(psasl_opt.mech_list);
	memset(&psasl_opt, 0, sizeof(psasl_opt));
}

/* Global callbacks */

/* Every option libsasl2 and its plugins ask for that matters to us. Any
 * other gets "not set" (and there is no config file to fall back to). */
static int
psasl_getopt(void *context, const char *plugin, const char *option,
    const char **result, unsigned *len)
{
	const char *v = NULL;

	(void)context;
	(void)plugin;
	if (option == NULL || result == NULL)
		return SASL_BADPARAM;
	if (strcmp(option, "mech_list") == 0)
		v = psasl_opt.mech_list;
	else if (strcmp(option, "pwcheck_method") == 0)
		v = "auxprop";
	else if (strcmp(option, "auxprop_plugin") == 0)
		v = AUXPROP_PLUGIN_NAME;
	else if (strcmp(option, "canon_user_plugin") == 0)
		v = "INTERNAL";
	else if (strcmp(option, "auto_transition") == 0)
		v = "no";
	else if (strcmp(option, "log_level") == 0)
		v = log_verbose ? PSASL_STR(SASL_LOG_DEBUG) :
		    PSASL_STR(SASL_LOG_FAIL);
	else if (strcmp(option, "scram_iteration_counter") == 0)
		v = PSASL_STR(SCRAM_DEFAULT_ITERATIONS);
	if (v == NULL)
		return SASL_FAIL;
	*result = v;
	if (len != NULL)
		*len = (unsigned)strlen(v);
	return SASL_OK;
}

static int
psasl_getconfpath(void *context, char **path)
{
	static char confpath[] = PSASL_CONFPATH;

	(void)context;
	if (path == NULL)
		return SASL_BADPARAM;
	*path = confpath;
	return SASL_OK;
}

/* libsasl2's messages into ours. TRACE and PASS levels can carry protocol
 * data and passwords: they are dropped whatever the log level. Failures
 * are routine (the session audits them), so they are debug output. */
static void
psasl_log_emit(int level, const char *msg)
{
	/* Some plugins end their messages with a newline. */
	int n = (int)strcspn(msg, "\r\n");

	switch (level) {
	case SASL_LOG_ERR:
		log_warn("sasl: %.*s", n, msg);
		break;
	case SASL_LOG_WARN:
		log_info("sasl: %.*s", n, msg);
		break;
	case SASL_LOG_FAIL:
	case SASL_LOG_NOTE:
	case SASL_LOG_DEBUG:
		log_debug("sasl: %.*s", n, msg);
		break;
	default:
		break;
	}
}

static int
psasl_log_cb(void *context, int level, const char *msg)
{
	struct psasl *s = context;

	if (msg == NULL)
		return SASL_OK;
	/* Remember the last failure: libsasl2's result codes alone don't
	 * say why GSSAPI or the directory failed. */
	if (s != NULL && level <= SASL_LOG_FAIL)
		snprintf(s->detail, sizeof(s->detail), "%.*s",
		    (int)strcspn(msg, "\r\n"), msg);
	psasl_log_emit(level, msg);
	return SASL_OK;
}

/* The plugin files libsasl2 may load. Only these mechanisms can work with
 * what we serve (CRAM-MD5, DIGEST-MD5, NTLM... need cleartext-equivalent
 * secrets, which never leave the directory), plugin init runs as root in
 * the master, and the sasldb auxprop would go reading /etc/sasldb2. */
static const char *const psasl_plugin_files[] = {
	"scram", "plain", "login", "gssapiv2",
};

static int
psasl_verifyfile(void *context, const char *file, sasl_verify_type_t type)
{
	const char *base;
	size_t i, n;

	(void)context;
	if (type != SASL_VRFY_PLUGIN)
		return SASL_OK;
	base = strrchr(file, '/') != NULL ? strrchr(file, '/') + 1 : file;
	if (strncmp(base, "lib", 3) == 0)
		base += 3;
	n = strcspn(base, ".");
	for (i = 0; i < sizeof(psasl_plugin_files) /
	    sizeof(psasl_plugin_files[0]); i++)
		if (strlen(psasl_plugin_files[i]) == n &&
		    strncmp(base, psasl_plugin_files[i], n) == 0)
			return SASL_OK;
	return SASL_NOMECH;
}

static bool
psasl_realm_listed(const char *realm, size_t len)
{
	size_t i;

	for (i = 0; psasl_opt.realms[i] != NULL; i++)
		if (strlen(psasl_opt.realms[i]) == len &&
		    memcmp(psasl_opt.realms[i], realm, len) == 0)
			return true;
	return false;
}

/* GSSAPI: "alice/admin@REALM" is another identity than alice and must
 * never map to her (the rule of principal_to_user, shared with KPOP). */
static bool
psasl_is_instance(sasl_conn_t *conn, const char *in, size_t n)
{
	const char *mech = NULL;
	const char *at = memchr(in, '@', n);
	size_t name = at ? (size_t)(at - in) : n;

	if (sasl_getprop(conn, SASL_MECHNAME, (const void **)&mech) != SASL_OK ||
	    mech == NULL || strcasecmp(mech, "GSSAPI") != 0)
		return false;
	return memchr(in, '/', name) != NULL || memchr(in, '\\', name) != NULL;
}

/* Runs before the INTERNAL canonicalizer on every authentication and
 * authorization identity: trims blanks, refuses empty names and control
 * characters, and maps "name@REALM" to "name" for a configured realm (a
 * Kerberos principal of our own realm; other realms stay as they are). */
static int
psasl_canon_user(sasl_conn_t *conn, void *context, const char *in,
    unsigned inlen, unsigned flags, const char *user_realm, char *out,
    unsigned out_max, unsigned *out_len)
{
	const char *at;
	size_t i, n = inlen;

	(void)context;
	(void)flags;
	(void)user_realm;
	while (n > 0 && isspace((unsigned char)*in))
		in++, n--;
	while (n > 0 && isspace((unsigned char)in[n - 1]))
		n--;
	for (i = 0; i < n; i++)
		if ((unsigned char)in[i] < 0x20 || in[i] == 0x7f)
			break;
	if (i < n) {
		sasl_seterror(conn, 0, "control character in user name");
		return SASL_BADPROT;
	}
	if (psasl_is_instance(conn, in, n)) {
		sasl_seterror(conn, 0, "principal with an instance");
		return SASL_BADAUTH;
	}
	if ((at = memrchr(in, '@', n)) != NULL &&
	    psasl_realm_listed(at + 1, n - (size_t)(at + 1 - in)))
		n = (size_t)(at - in);
	if (n == 0) {
		sasl_seterror(conn, 0, "empty user name");
		return SASL_BADPROT;
	}
	if (n >= out_max)
		return SASL_BUFOVER;
	memmove(out, in, n);
	out[n] = '\0';
	*out_len = (unsigned)n;
	return SASL_OK;
}

/* Hook for configured proxy rights ("authid may act as authzid"): none
 * exist yet, so only acting as oneself is allowed. */
static bool
psasl_proxy_allowed(const char *authid, const char *authzid)
{
	(void)authid;
	(void)authzid;
	return false;
}

static int
psasl_proxy_policy(sasl_conn_t *conn, void *context, const char *user,
    unsigned ulen, const char *authid, unsigned alen, const char *realm,
    unsigned rlen, struct propctx *propctx)
{
	(void)context;
	(void)realm;
	(void)rlen;
	(void)propctx;
	if (user == NULL || ulen == 0)
		return SASL_OK;
	if (authid != NULL && ulen == alen && memcmp(user, authid, ulen) == 0)
		return SASL_OK;
	if (authid != NULL && psasl_proxy_allowed(authid, user))
		return SASL_OK;
	sasl_seterror(conn, 0, "%s may not act as %s",
	    authid != NULL ? authid : "?", user);
	return SASL_NOAUTHZ;
}

static const sasl_callback_t psasl_callbacks[] = {
	{ SASL_CB_GETOPT, PSASL_CB(psasl_getopt), NULL },
	{ SASL_CB_GETCONFPATH, PSASL_CB(psasl_getconfpath), NULL },
	{ SASL_CB_VERIFYFILE, PSASL_CB(psasl_verifyfile), NULL },
	{ SASL_CB_LOG, PSASL_CB(psasl_log_cb), NULL },
	{ SASL_CB_SERVER_USERDB_CHECKPASS, PSASL_CB(checkpass_cb), NULL },
	{ SASL_CB_PROXY_POLICY, PSASL_CB(psasl_proxy_policy), NULL },
	{ SASL_CB_CANON_USER, PSASL_CB(psasl_canon_user), NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

/* Configured mechanisms libsasl2 did not load are worth one warning at
 * startup rather than a silent gap in CAPA. */
static void
psasl_check_loaded(void)
{
	const char **loaded = sasl_global_listmech();
	size_t i, j;

	for (i = 0; psasl_opt.mechs[i] != NULL; i++) {
		for (j = 0; loaded != NULL && loaded[j] != NULL; j++)
			if (strcasecmp(loaded[j], psasl_opt.mechs[i]) == 0)
				break;
		if (loaded == NULL || loaded[j] == NULL)
			log_warn("sasl: mechanism %s is configured but not "
			    "available (plugins loaded: PLAIN, LOGIN, SCRAM-*, "
			    "GSSAPI, if installed)", psasl_opt.mechs[i]);
	}
}

bool
psasl_global_init(const struct psasl_global_options *o,
    struct directory *dir)
{
	int r;

	if (psasl_opt.inited) {
		log_err("sasl: initialised twice");
		return false;
	}
	psasl_options_set(o);
	checkpass_init(dir);
	if ((r = sasl_server_init(psasl_callbacks, PSASL_APPNAME)) != SASL_OK) {
		log_err("sasl: sasl_server_init: %s",
		    sasl_errstring(r, NULL, NULL));
		checkpass_done();
		psasl_options_free();
		return false;
	}
	if (!auxprop_init()) {
		sasl_server_done();
		checkpass_done();
		psasl_options_free();
		return false;
	}
	psasl_check_loaded();
	psasl_opt.inited = true;
	return true;
}

void
psasl_set_directory(struct directory *dir)
{
	checkpass_set_directory(dir);
}

void
psasl_global_done(void)
{
	OM_uint32 minor;

	if (!psasl_opt.inited)
		return;
	if (psasl_gss_cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&minor, &psasl_gss_cred);
	sasl_server_done();
	auxprop_done();
	checkpass_done();
	psasl_options_free();
}

/* GSSAPI acceptor credentials */

static void
psasl_gss_log(const char *what, OM_uint32 major, OM_uint32 minor)
{
	OM_uint32 min2, ctx = 0;
	gss_buffer_desc mj = GSS_C_EMPTY_BUFFER, mn = GSS_C_EMPTY_BUFFER;

	(void)gss_display_status(&min2, major, GSS_C_GSS_CODE, GSS_C_NO_OID,
	    &ctx, &mj);
	ctx = 0;
	(void)gss_display_status(&min2, minor, GSS_C_MECH_CODE, GSS_C_NO_OID,
	    &ctx, &mn);
	log_warn("sasl: %s for service %s, keytab %s: %.*s: %.*s", what,
	    psasl_opt.service, psasl_opt.keytab, (int)mj.length,
	    mj.value != NULL ? (const char *)mj.value : "", (int)mn.length,
	    mn.value != NULL ? (const char *)mn.value : "");
	gss_release_buffer(&min2, &mj);
	gss_release_buffer(&min2, &mn);
}

/* Credentials for "service@<any host>" from the configured keytab. Done
 * in the worker, never in the root master: the keys are read as the user
 * that will use them, and nothing GSS-related crosses fork. */
static bool
psasl_gss_acquire(void)
{
	OM_uint32 major, minor, min2;
	gss_buffer_desc buf;
	gss_name_t name = GSS_C_NO_NAME;
	gss_key_value_element_desc el = { "keytab", psasl_opt.keytab };
	gss_key_value_set_desc store = { 1, &el };
	gss_OID_set_desc krb5 = { 1, (gss_OID)gss_mech_krb5 };
	const char *path = psasl_opt.keytab;

	/* An unreadable keytab is the usual failure: say so plainly (and
	 * spare MIT's failure path, which leaks a principal each time). */
	if (strncmp(path, "FILE:", 5) == 0)
		path += 5;
	if (path[0] == '/' && access(path, R_OK) != 0) {
		log_warn("sasl: GSSAPI keytab %s: %s", path, strerror(errno));
		return false;
	}
	buf.value = psasl_opt.service;
	buf.length = strlen(psasl_opt.service);
	major = gss_import_name(&minor, &buf, GSS_C_NT_HOSTBASED_SERVICE,
	    &name);
	if (GSS_ERROR(major)) {
		psasl_gss_log("gss_import_name", major, minor);
		return false;
	}
	major = gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, &krb5,
	    GSS_C_ACCEPT, &store, &psasl_gss_cred, NULL, NULL);
	gss_release_name(&min2, &name);
	if (GSS_ERROR(major)) {
		psasl_gss_log("cannot acquire GSSAPI acceptor credentials",
		    major, minor);
		psasl_gss_cred = GSS_C_NO_CREDENTIAL;
		return false;
	}
	return true;
}

static bool
psasl_gss_attach(struct psasl *s)
{
	int r;

	if (psasl_gss_cred == GSS_C_NO_CREDENTIAL && !psasl_gss_acquire()) {
		snprintf(s->detail, sizeof(s->detail),
		    "no GSSAPI acceptor credentials");
		return false;
	}
	if ((r = sasl_setprop(s->conn, SASL_GSS_CREDS, psasl_gss_cred)) !=
	    SASL_OK) {
		snprintf(s->detail, sizeof(s->detail), "SASL_GSS_CREDS: %s",
		    sasl_errstring(r, NULL, NULL));
		log_warn("sasl: %s", s->detail);
		return false;
	}
	return true;
}

/* GSSAPI's checks before libsasl2 sees the first token. */
static bool
psasl_gss_ready(struct psasl *s, bool has_initial, size_t inlen,
    enum resp_code *rc)
{
	/* The first GSSAPI token is never empty: "=" is a client error,
	 * and libsasl2 would answer it with a token. */
	if (has_initial && inlen == 0) {
		*rc = RC_AUTH;
		snprintf(s->detail, sizeof(s->detail),
		    "empty GSSAPI initial response");
		return false;
	}
	if (!psasl_gss_attach(s)) {
		*rc = RC_SYS_TEMP;
		return false;
	}
	return true;
}

/* Connections */

/* Mechanisms that send the password itself: offered only when the policy
 * says cleartext is fine now (normally: under TLS). */
static bool
psasl_policy_allows(const struct psasl *s, const char *mech)
{
	if (strcmp(mech, "PLAIN") == 0 || strcmp(mech, "LOGIN") == 0)
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

static void
psasl_conn_callbacks(struct psasl *s)
{
	sasl_callback_t *cb = s->callbacks;

	cb[0] = (sasl_callback_t){ SASL_CB_GETOPT,
	    PSASL_CB(psasl_conn_getopt), s };
	cb[1] = (sasl_callback_t){ SASL_CB_LOG, PSASL_CB(psasl_log_cb), s };
	cb[2] = (sasl_callback_t){ SASL_CB_SERVER_USERDB_CHECKPASS,
	    PSASL_CB(checkpass_cb), &s->st };
	cb[3] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
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
	if (sasl_getprop(s->conn, SASL_PLUGERR, &perr) == SASL_OK &&
	    perr != NULL && *(const char *)perr != '\0')
		snprintf(s->detail, sizeof(s->detail), "%s",
		    (const char *)perr);
	if (s->st.tempfail && s->detail[0] == '\0')
		snprintf(s->detail, sizeof(s->detail), "directory unavailable");
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
psasl_mechname(struct psasl *s)
{
	return s != NULL && s->done ? s->mech : NULL;
}

const char *
psasl_errdetail(struct psasl *s)
{
	return s != NULL ? s->detail : "";
}
