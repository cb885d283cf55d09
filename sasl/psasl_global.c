#include "config.h"

/* The global side of the glue to Cyrus SASL: the configured options, the
 * callbacks registered with sasl_server_init(), the plugin files allowed
 * to load, and psasl_global_init(), which runs as root in the master
 * before fork. The callbacks run there too (plugins load and ask for
 * options in sasl_server_init()) and then in the workers.
 *
 * libsasl2 traps handled here (PROTOCOLS.md §3; the others are listed in
 * psasl.c):
 * - sasl_server_init() keeps the callbacks pointer and ignores a second
 *   call's callbacks: they are static and registered once.
 * - Options we do not answer fall back to <appname>.conf: the config path
 *   points into /dev/null, so no file can ever be read.
 * - The user_realm argument would append "@realm" to every name: NULL, and
 *   configured realms are stripped by our canon_user callback instead. */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "directory/verifier.h"
#include "sasl/auxprop.h"
#include "sasl/checkpass.h"
#include "sasl/psasl.h"
#include "sasl/psasl_int.h"

#define PSASL_APPNAME   "postern"
/* A "directory" that cannot exist: libsasl2 looks for its .conf there. */
#define PSASL_CONFPATH  "/dev/null"
#define PSASL_XSTR(x)   #x
#define PSASL_STR(x)    PSASL_XSTR(x)

struct psasl_opt_state psasl_opt;

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

bool
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
		    strcmp(m, "LOGIN") == 0 ||
		    (strcmp(m, "GSSAPI") == 0 && psasl_opt.keytab == NULL)) {
			/* -PLUS variants follow their base mechanism;
			 * GSSAPI needs a keytab; LOGIN is PLAIN's obsolete
			 * twin, and Debian's plugin leaks the password it
			 * was sent when the user name is empty. */
			log_warn("sasl: mechanism \"%s\" ignored", m);
			free(m);
			continue;
		}
		psasl_opt.mechs[k++] = m;
	}
	psasl_opt.mechs[k] = NULL;
}

/* The configured mechanisms joined by spaces, filtered by keep(). */
char *
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
	psasl_split(o->proxy_users, psasl_opt.proxy_users, PSASL_MAXPROXIES,
	    "proxy users");
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
	for (i = 0; psasl_opt.proxy_users[i] != NULL; i++)
		free(psasl_opt.proxy_users[i]);
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

int
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
	"scram", "plain", "gssapiv2",
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
 * Kerberos principal of our own realm; other realms stay as they are).
 * Each connection registers it through psasl_conn_canon_user (psasl.c),
 * which also notes the identity claimed. */
int
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

/* Proxy rights come only from the configuration (sasl_proxy_users): such
 * an identity, e.g. a mail archiver, may log in as any user. */
static bool
psasl_proxy_allowed(const char *authid, const char *authzid)
{
	(void)authzid;
	for (size_t i = 0; psasl_opt.proxy_users[i] != NULL; i++)
		if (strcmp(psasl_opt.proxy_users[i], authid) == 0)
			return true;
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
			    "available (plugins loaded: PLAIN, SCRAM-*, "
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
	if (!psasl_opt.inited)
		return;
	psasl_gss_done();
	sasl_server_done();
	auxprop_done();
	checkpass_done();
	psasl_options_free();
}
