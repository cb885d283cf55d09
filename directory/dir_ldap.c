#include "config.h"

/*
 * The OpenLDAP backend: users are entries found by a filter, their secrets
 * are RFC 5803 authPassword values (or userPassword {SCRAM-...}/{CRYPT}),
 * or passwords are checked by binding as the entry.
 *
 * Each worker keeps one connection, made on first use and never across
 * fork (PROTOCOLS.md 5).  The URIs are tried one by one rather than
 * handed to libldap as a list, so that we know which server answered:
 * when that server breaks or stops answering, the next connect starts
 * with the one after it, and a hung server costs one timeout, not one
 * per lookup.
 */

#include <sys/stat.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>

#include "common/clock.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "directory/dir_file.h"
#include "directory/dir_ldap.h"
#include "directory/verifier.h"

/* After no server could be reached, lookups fail fast for this long
 * instead of hammering a dead directory from every worker. */
#define LDAP_RETRY_BACKOFF 1
/* The bind password file holds one line. */
#define LDAP_SECRET_MAX 1024

struct dir_ldap {
	struct directory_ldap_options o;
	char **uris;            /* o.uris, one per element */
	size_t nuris;
	size_t first;           /* where the next connect starts */
	size_t current;         /* the URI ld is connected to */
	LDAP *ld;
	pid_t owner;            /* process that opened ld */
	time_t retry_after;
	/* The last entry found: one login looks its user up several times
	 * (SASL's check, its auxprop, the session), and each would be a
	 * search. Dropped at each new authentication attempt
	 * (directory_forget), and reused for LDAP_CACHE_SECONDS at most. */
	char *cache_name;
	struct user_record *cache_rec;
	long long cache_at;             /* clock_ms() */
};

#define LDAP_CACHE_SECONDS 2

static void cache_drop(struct dir_ldap *dl);

/* The string options, copied on open and freed on close: the config they
 * come from is freed on reload. */
#define LDAP_OPT(f) offsetof(struct directory_ldap_options, f)
static const size_t ldap_string_options[] = {
	LDAP_OPT(uris), LDAP_OPT(ca_file), LDAP_OPT(bind_method),
	LDAP_OPT(bind_dn), LDAP_OPT(bind_password), LDAP_OPT(base),
	LDAP_OPT(scope), LDAP_OPT(user_filter), LDAP_OPT(principal_filter),
	LDAP_OPT(access_filter), LDAP_OPT(attr_login), LDAP_OPT(attr_maildrop),
	LDAP_OPT(attr_status), LDAP_OPT(status_enabled),
	LDAP_OPT(attr_login_delay), LDAP_OPT(attr_expire), LDAP_OPT(attr_secret),
	LDAP_OPT(store_root),
};
#define NSTRING_OPTIONS (sizeof(ldap_string_options) / sizeof(ldap_string_options[0]))

static char **
option_slot(struct directory_ldap_options *o, size_t i)
{
	return (char **)((char *)o + ldap_string_options[i]);
}

/* Blanks or commas separate the URIs, as for ldap_initialize(). */
static bool
split_uris(struct dir_ldap *dl)
{
	const char *p = dl->o.uris;
	LDAPURLDesc *lud;
	size_t n;

	while (*(p += strspn(p, " \t,")) != '\0') {
		n = strcspn(p, " \t,");
		dl->uris = xreallocarray(dl->uris, dl->nuris + 1, sizeof(char *));
		dl->uris[dl->nuris++] = xstrndup(p, n);
		p += n;
		if (ldap_url_parse(dl->uris[dl->nuris - 1], &lud) != LDAP_URL_SUCCESS) {
			log_err("ldap_uris: \"%s\" is not an LDAP URI",
			    dl->uris[dl->nuris - 1]);
			return false;
		}
		ldap_free_urldesc(lud);
	}
	if (dl->nuris == 0)
		log_err("ldap_uris is empty");
	return dl->nuris > 0;
}

struct dir_ldap *
dir_ldap_open(const struct directory_ldap_options *o)
{
	struct dir_ldap *dl;

	if (o->uris == NULL || o->base == NULL || o->user_filter == NULL)
		return NULL;
	dl = xcalloc(1, sizeof(*dl));
	dl->o = *o;
	for (size_t i = 0; i < NSTRING_OPTIONS; i++) {
		char **slot = option_slot(&dl->o, i);

		*slot = *slot ? xstrdup(*slot) : NULL;
	}
	if (dl->o.attr_login == NULL)
		dl->o.attr_login = xstrdup("uid");
	if (!split_uris(dl)) {
		dir_ldap_close(dl);
		return NULL;
	}
	return dl;
}

static void
forget_handle(struct dir_ldap *dl)
{
	/* A handle inherited across fork shares its socket with the parent:
	 * unbinding it would cut the parent's connection (PROTOCOLS.md §5). */
	if (dl->ld && dl->owner == getpid())
		ldap_unbind_ext_s(dl->ld, NULL, NULL);
	dl->ld = NULL;
}

void
dir_ldap_close(struct dir_ldap *dl)
{
	if (dl == NULL)
		return;
	forget_handle(dl);
	cache_drop(dl);
	for (size_t i = 0; i < NSTRING_OPTIONS; i++)
		free_secret_str(*option_slot(&dl->o, i));
	for (size_t i = 0; i < dl->nuris; i++)
		free(dl->uris[i]);
	free(dl->uris);
	free(dl);
}

char *
ldap_filter_escape(const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(value) * 3 + 1), *p = out;

	for (const unsigned char *v = (const unsigned char *)value; *v; v++) {
		if (*v < 0x20 || *v >= 0x7f || strchr("*()\\", *v)) {
			*p++ = '\\';
			*p++ = hex[*v >> 4];
			*p++ = hex[*v & 15];
		} else
			*p++ = (char)*v;
	}
	*p = '\0';
	return out;
}

char *
ldap_filter_build(const char *template, char key, const char *value)
{
	char *esc = ldap_filter_escape(value);
	size_t n = 0, cap = strlen(template) + 1, elen = strlen(esc);
	const char *t;
	char *out;

	for (t = template; *t; t++)
		if (t[0] == '%' && t[1] == key)
			cap += elen;
	out = xmalloc(cap);
	for (t = template; *t; t++) {
		if (t[0] == '%' && t[1] == key) {
			memcpy(out + n, esc, elen);
			n += elen;
			t++;
		} else
			out[n++] = *t;
	}
	out[n] = '\0';
	free(esc);
	return out;
}

/* Connection. */

static void
set_common_options(LDAP *ld, const struct directory_ldap_options *o)
{
	struct timeval tv = { .tv_sec = o->timeout > 0 ? o->timeout : 5 };
	int version = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;

	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	if (o->ca_file) {
		ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, o->ca_file);
		ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
		/* Last: makes a context with the options above. */
		ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
	}
}

/* A handle connected to uri, StartTLS done where configured: StartTLS
 * applies to ldap:// only (ldaps:// is TLS already, ldapi:// local). */
static LDAP *
open_uri(const struct directory_ldap_options *o, const char *uri, char *err,
    size_t errlen)
{
	LDAP *ld;
	int r;

	if ((r = ldap_initialize(&ld, uri)) != LDAP_SUCCESS) {
		snprintf(err, errlen, "ldap_initialize: %s", ldap_err2string(r));
		return NULL;
	}
	set_common_options(ld, o);
	if ((r = ldap_connect(ld)) != LDAP_SUCCESS)
		snprintf(err, errlen, "connect: %s", ldap_err2string(r));
	else if (o->starttls && strncasecmp(uri, "ldap://", 7) == 0 &&
	    (r = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS)
		snprintf(err, errlen, "StartTLS: %s", ldap_err2string(r));
	if (r == LDAP_SUCCESS)
		return ld;
	ldap_unbind_ext_s(ld, NULL, NULL);
	return NULL;
}

/* The first URI that answers, starting at index start; *which says which. */
static LDAP *
open_any(const struct dir_ldap *dl, size_t start, size_t *which)
{
	char err[256];
	LDAP *ld;

	for (size_t i = 0; i < dl->nuris; i++) {
		size_t k = (start + i) % dl->nuris;

		if ((ld = open_uri(&dl->o, dl->uris[k], err, sizeof(err))) != NULL) {
			*which = k;
			return ld;
		}
		log_warn("LDAP %s: %s", dl->uris[k], err);
	}
	return NULL;
}

static int
service_bind(LDAP *ld, const struct directory_ldap_options *o)
{
	struct berval cred = { 0, (char *)"" };
	const char *m = o->bind_method ? o->bind_method : "none";

	if (strcmp(m, "simple") == 0) {
		cred.bv_val = (char *)(o->bind_password ? o->bind_password : "");
		cred.bv_len = strlen(cred.bv_val);
		return ldap_sasl_bind_s(ld, o->bind_dn, LDAP_SASL_SIMPLE, &cred,
		    NULL, NULL, NULL);
	}
	/* An empty credential, not NULL: NULL gets "SASL bind in progress". */
	if (strcmp(m, "external") == 0)
		return ldap_sasl_bind_s(ld, NULL, "EXTERNAL", &cred, NULL, NULL, NULL);
	return LDAP_SUCCESS;
}

/* The next connect starts after the server that failed. */
static void
drop_connection(struct dir_ldap *dl)
{
	forget_handle(dl);
	dl->first = (dl->current + 1) % dl->nuris;
}

static bool
dir_connect(struct dir_ldap *dl)
{
	int r;

	if (dl->ld && dl->owner == getpid())
		return true;
	dl->ld = NULL;
	if (time(NULL) < dl->retry_after)
		return false;
	/* One pass over the servers, each tried once: a hung one costs one
	 * timeout per connect, however many others refuse the bind. */
	for (size_t i = 0, start = dl->first; i < dl->nuris; i++) {
		size_t k = (start + i) % dl->nuris;
		char err[256];

		if ((dl->ld = open_uri(&dl->o, dl->uris[k], err,
		    sizeof(err))) == NULL) {
			log_warn("LDAP %s: %s", dl->uris[k], err);
			continue;
		}
		dl->current = k;
		dl->owner = getpid();
		if ((r = service_bind(dl->ld, &dl->o)) == LDAP_SUCCESS)
			return true;
		log_warn("LDAP %s: service bind: %s", dl->uris[k],
		    ldap_err2string(r));
		drop_connection(dl);
	}
	dl->retry_after = time(NULL) + LDAP_RETRY_BACKOFF;
	return false;
}

/* Lookups. */

static int
ldap_scope_value(const char *scope)
{
	if (scope && strcmp(scope, "one") == 0)
		return LDAP_SCOPE_ONELEVEL;
	if (scope && strcmp(scope, "base") == 0)
		return LDAP_SCOPE_BASE;
	return LDAP_SCOPE_SUBTREE;
}

/* Worth another server: the connection or the server is gone or stuck. */
static bool
connection_lost(int r)
{
	return r == LDAP_SERVER_DOWN || r == LDAP_CONNECT_ERROR ||
	    r == LDAP_TIMEOUT || r == LDAP_UNAVAILABLE || r == LDAP_BUSY;
}

/* One search, retried once on a fresh connection when the old one broke
 * (failover to the next URI happens in that reconnect). */
static int
dir_search(struct dir_ldap *dl, const char *base, int scope,
    const char *filter, char **attrs, LDAPMessage **res)
{
	struct timeval tv = { .tv_sec = dl->o.timeout > 0 ? dl->o.timeout : 5 };
	int r = LDAP_SERVER_DOWN;

	*res = NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!dir_connect(dl))
			return LDAP_SERVER_DOWN;
		r = ldap_search_ext_s(dl->ld, base, scope, filter, attrs, 0, NULL,
		    NULL, &tv, 2, res);
		if (!connection_lost(r))
			return r;
		log_warn("LDAP %s: search: %s; %s", dl->uris[dl->current],
		    ldap_err2string(r), attempt == 0 ? "reconnecting" : "giving up");
		ldap_msgfree(*res);
		*res = NULL;
		drop_connection(dl);
	}
	return r;
}

/* First value of attr as a string, or NULL. */
static char *
first_value(LDAP *ld, LDAPMessage *e, const char *attr)
{
	struct berval **v;
	char *s = NULL;

	if (attr == NULL || (v = ldap_get_values_len(ld, e, attr)) == NULL)
		return NULL;
	if (v[0] && memchr(v[0]->bv_val, '\0', v[0]->bv_len) == NULL)
		s = xstrndup(v[0]->bv_val, v[0]->bv_len);
	ldap_value_free_len(v);
	return s;
}

/* A count of seconds or days; -1 (the global default) when absent or not
 * a number; never_ok: "never" gives USER_EXPIRE_NEVER. */
static int
int_value(LDAP *ld, LDAPMessage *e, const char *attr, bool never_ok)
{
	char *s = first_value(ld, e, attr), *end;
	long v;

	if (s == NULL)
		return -1;
	if (never_ok && strcasecmp(s, "never") == 0)
		v = USER_EXPIRE_NEVER;
	else {
		v = strtol(s, &end, 10);
		if (*s == '\0' || *end != '\0' || v < 0 || v > 1000000)
			v = -1;
	}
	free(s);
	return (int)v;
}

static void
set_once(char **slot, char *value)
{
	if (*slot == NULL)
		*slot = value;
	else
		free_secret_str(value);
}

/* RFC 3112 allows blanks around the '$' separators of authPassword;
 * RFC 5803's form, which the verifier code parses, has none. */
static char *
without_blanks(const char *v, size_t len)
{
	char *s = xmalloc(len + 1), *p = s;

	for (size_t i = 0; i < len; i++)
		if (v[i] != ' ' && v[i] != '\t')
			*p++ = v[i];
	*p = '\0';
	return s;
}

/* The value forms that carry a secret Postern can use. */
static const struct secret_form {
	const char *prefix;     /* matched without regard to case */
	const char *mech;       /* SCRAM verifiers: RFC 5803 scheme */
	size_t field;
} secret_forms[] = {
	{ "SCRAM-SHA-256$", "SCRAM-SHA-256", offsetof(struct user_record, scram_sha256) },
	{ "SCRAM-SHA-1$", "SCRAM-SHA-1", offsetof(struct user_record, scram_sha1) },
	{ "{SCRAM-SHA-256}", "SCRAM-SHA-256", offsetof(struct user_record, scram_sha256) },
	{ "{SCRAM-SHA-1}", "SCRAM-SHA-1", offsetof(struct user_record, scram_sha1) },
	{ "{CRYPT}", NULL, offsetof(struct user_record, crypt_hash) },
};

/* One secret value into the record; the first well-formed value of each
 * kind wins, anything else (e.g. {SSHA}, which only a bind can check) is
 * skipped. */
static void
take_secret(struct user_record *u, const char *value, size_t len)
{
	char *v = without_blanks(value, len), *s;
	size_t pl;

	for (size_t i = 0; i < sizeof(secret_forms) / sizeof(secret_forms[0]); i++) {
		const struct secret_form *f = &secret_forms[i];

		pl = strlen(f->prefix);
		if (strlen(v) <= pl || strncasecmp(v, f->prefix, pl) != 0)
			continue;
		s = f->mech ? xasprintf("%s$%s", f->mech, v + pl) : xstrdup(v + pl);
		if (f->mech && !scram_verifier_valid(s)) {
			log_warn("LDAP %s: malformed %s verifier ignored", u->source,
			    f->mech);
			free_secret_str(s);
		} else
			set_once((char **)((char *)u + f->field), s);
		break;
	}
	free_secret_str(v);
}

static void
take_secrets(LDAP *ld, LDAPMessage *e, const char *attr, struct user_record *u)
{
	struct berval **v;

	if (attr == NULL || (v = ldap_get_values_len(ld, e, attr)) == NULL)
		return;
	for (int i = 0; v[i]; i++)
		if (memchr(v[i]->bv_val, '\0', v[i]->bv_len) == NULL)
			take_secret(u, v[i]->bv_val, v[i]->bv_len);
	ldap_value_free_len(v);
}

static const char *
store_root(const struct dir_ldap *dl)
{
	return dl->o.store_root ? dl->o.store_root : "/var/mail/postern";
}

/* The maildrop by the users file's rules (no "..", no blanks, relative
 * means below store_root), so that whoever may write the attribute
 * cannot point it anywhere; NULL if the value breaks them. */
static char *
maildrop_path(const struct dir_ldap *dl, const char *value, const char *name)
{
	const char *why;

	if (value == NULL)
		return xasprintf("%s/%s", store_root(dl), name);
	if ((why = dir_file_maildrop_check(value, store_root(dl))) != NULL) {
		log_warn("LDAP user %s: maildrop \"%s\" refused: %s", name, value,
		    why);
		return NULL;
	}
	if (value[0] == '/')
		return xstrdup(value);
	return xasprintf("%s/%s", store_root(dl), value);
}

static bool
status_enabled(const struct dir_ldap *dl, LDAP *ld, LDAPMessage *e)
{
	char *v;
	bool on;

	if (dl->o.attr_status == NULL)
		return true;
	v = first_value(ld, e, dl->o.attr_status);
	on = v && dl->o.status_enabled && strcasecmp(v, dl->o.status_enabled) == 0;
	free(v);
	return on;
}

/*
 * The canonical name is the entry's login attribute, never what the client
 * typed: a case-insensitive match must not make "ALICE" a second user with
 * a maildrop of its own.  An entry without a usable name is no user.
 */
static char *
login_name(const struct dir_ldap *dl, LDAPMessage *e, const char *dn)
{
	char *name = first_value(dl->ld, e, dl->o.attr_login);

	if (name != NULL && dir_file_name_valid(name))
		return name;
	log_warn("LDAP %s: %s %s; entry ignored", dn, dl->o.attr_login,
	    name ? "is not a valid user name" : "is missing");
	free(name);
	return NULL;
}

static struct user_record *
record_from_entry(struct dir_ldap *dl, LDAPMessage *e)
{
	struct user_record *u;
	char *dn = ldap_get_dn(dl->ld, e), *name, *drop;

	if ((name = login_name(dl, e, dn ? dn : "(no DN)")) == NULL) {
		ldap_memfree(dn);
		return NULL;
	}
	u = xcalloc(1, sizeof(*u));
	u->name = name;
	u->source = xstrdup(dn ? dn : "");
	ldap_memfree(dn);
	drop = first_value(dl->ld, e, dl->o.attr_maildrop);
	u->maildrop = maildrop_path(dl, drop, u->name);
	free(drop);
	/* A maildrop we refuse to use is the administrator's to fix. */
	if (u->maildrop == NULL) {
		u->maildrop = xstrdup("");
		u->no_access = true;
	}
	u->enabled = status_enabled(dl, dl->ld, e);
	u->login_delay = int_value(dl->ld, e, dl->o.attr_login_delay, false);
	u->expire_days = int_value(dl->ld, e, dl->o.attr_expire, true);
	take_secrets(dl->ld, e, dl->o.attr_secret, u);
	if (dl->o.password_by_bind)
		u->bind_dn = xstrdup(u->source);
	return u;
}

/* Does the entry satisfy the POP access rule? */
static enum dir_result
check_access(struct dir_ldap *dl, struct user_record *u)
{
	char *attrs[] = { (char *)LDAP_NO_ATTRS, NULL };
	LDAPMessage *res;
	int r;

	if (dl->o.access_filter == NULL || u->no_access)
		return DIR_OK;
	r = dir_search(dl, u->source, LDAP_SCOPE_BASE, dl->o.access_filter,
	    attrs, &res);
	if (r != LDAP_SUCCESS && r != LDAP_NO_SUCH_OBJECT) {
		log_warn("LDAP access check for %s: %s", u->name,
		    ldap_err2string(r));
		ldap_msgfree(res);
		return DIR_TEMPFAIL;
	}
	u->no_access = r != LDAP_SUCCESS || ldap_count_entries(dl->ld, res) != 1;
	ldap_msgfree(res);
	return DIR_OK;
}

static enum dir_result
search_result(struct dir_ldap *dl, int r, LDAPMessage *res, const char *value)
{
	if (r == LDAP_SIZELIMIT_EXCEEDED) {
		log_warn("LDAP: \"%s\" matches several entries; refusing", value);
		return DIR_NOTFOUND;
	}
	if (r == LDAP_NO_SUCH_OBJECT)
		return DIR_NOTFOUND;
	if (r != LDAP_SUCCESS) {
		/* Why each server failed has been logged already. */
		log_warn("LDAP search: %s", r == LDAP_SERVER_DOWN ?
		    "no server available" : ldap_err2string(r));
		return DIR_TEMPFAIL;
	}
	return ldap_count_entries(dl->ld, res) == 1 ? DIR_OK : DIR_NOTFOUND;
}

static enum dir_result
lookup_filter(struct dir_ldap *dl, const char *template, char key,
    const char *value, struct user_record **out)
{
	const char *want[] = {
		dl->o.attr_login, dl->o.attr_maildrop, dl->o.attr_status,
		dl->o.attr_login_delay, dl->o.attr_expire, dl->o.attr_secret,
	};
	char *attrs[sizeof(want) / sizeof(want[0]) + 1], *filter;
	LDAPMessage *res;
	enum dir_result dr;
	size_t n = 0;
	int r;

	*out = NULL;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (want[i])
			attrs[n++] = (char *)want[i];
	attrs[n] = NULL;
	filter = ldap_filter_build(template, key, value);
	r = dir_search(dl, dl->o.base, ldap_scope_value(dl->o.scope), filter,
	    attrs, &res);
	free(filter);
	if ((dr = search_result(dl, r, res, value)) == DIR_OK &&
	    (*out = record_from_entry(dl, ldap_first_entry(dl->ld, res))) == NULL)
		dr = DIR_NOTFOUND;
	ldap_msgfree(res);
	if (dr == DIR_OK && (dr = check_access(dl, *out)) != DIR_OK) {
		user_record_free(*out);
		*out = NULL;
	}
	return dr;
}

static void
cache_drop(struct dir_ldap *dl)
{
	free(dl->cache_name);
	user_record_free(dl->cache_rec);
	dl->cache_name = NULL;
	dl->cache_rec = NULL;
}

void
dir_ldap_forget(struct dir_ldap *dl)
{
	cache_drop(dl);
}

static bool
cache_fresh(const struct dir_ldap *dl, const char *name)
{
	if (dl->cache_name == NULL || strcmp(dl->cache_name, name) != 0)
		return false;
	return clock_ms() - dl->cache_at < LDAP_CACHE_SECONDS * 1000LL;
}

enum dir_result
dir_ldap_lookup(struct dir_ldap *dl, const char *name, struct user_record **out)
{
	enum dir_result r;

	if (cache_fresh(dl, name)) {
		*out = user_record_copy(dl->cache_rec);
		return DIR_OK;
	}
	cache_drop(dl);
	if ((r = lookup_filter(dl, dl->o.user_filter, 'u', name, out)) == DIR_OK) {
		dl->cache_name = xstrdup(name);
		dl->cache_rec = user_record_copy(*out);
		dl->cache_at = clock_ms();
	}
	return r;
}

enum dir_result
dir_ldap_lookup_principal(struct dir_ldap *dl, const char *principal,
    struct user_record **out)
{
	*out = NULL;
	if (dl->o.principal_filter == NULL)
		return DIR_NOTFOUND;
	return lookup_filter(dl, dl->o.principal_filter, 'p', principal, out);
}

/* Password checks. */

/* A bind as the user on a handle of its own, so the service connection
 * keeps its identity; to the server that answered the lookup first. */
static enum dir_result
bind_as_user(struct dir_ldap *dl, const char *dn, const char *password,
    bool *ok)
{
	struct berval cred = { strlen(password), (char *)password };
	size_t which;
	LDAP *ud;
	int r;

	if ((ud = open_any(dl, dl->current, &which)) == NULL) {
		log_warn("LDAP user bind: no server answers");
		return DIR_TEMPFAIL;
	}
	r = ldap_sasl_bind_s(ud, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	ldap_unbind_ext_s(ud, NULL, NULL);
	*ok = r == LDAP_SUCCESS;
	if (r == LDAP_SUCCESS || r == LDAP_INVALID_CREDENTIALS ||
	    r == LDAP_INAPPROPRIATE_AUTH || r == LDAP_UNWILLING_TO_PERFORM)
		return DIR_OK;
	log_warn("LDAP %s: bind as %s: %s", dl->uris[which], dn,
	    ldap_err2string(r));
	return DIR_TEMPFAIL;
}

enum dir_result
dir_ldap_check_password(struct dir_ldap *dl, const struct user_record *u,
    const char *password, bool *ok)
{
	*ok = false;
	/* An empty password would be an unauthenticated bind (RFC 4513
	 * 5.1.2), which some servers answer with success. */
	if (password == NULL || *password == '\0')
		return DIR_OK;
	if (dl->o.password_by_bind) {
		if (u->bind_dn == NULL || *u->bind_dn == '\0')
			return DIR_OK;
		return bind_as_user(dl, u->bind_dn, password, ok);
	}
	*ok = user_password_check(u, password);
	return DIR_OK;
}

/* Opening from the configuration. */

/* The first line of a secret file, malloc'd (free with free_secret_str);
 * warns when the file is readable by group or others. */
static char *
dir_ldap_read_secret(const char *path, char *err, size_t errlen)
{
	char buf[LDAP_SECRET_MAX], *s;
	struct stat st;
	size_t n;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0)
		log_warn("%s is readable by others than its owner: make it "
		    "mode 0600", path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	/* A DN with an empty password is an unauthenticated bind, which some
	 * servers accept as anonymous: no verifier would ever be readable. */
	if (buf[0] == '\0') {
		snprintf(err, errlen, "%s: empty", path);
		return NULL;
	}
	s = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return s;
}

struct directory *
dir_ldap_open_config(const struct config *cfg, char *err, size_t errlen)
{
	struct directory_ldap_options o = {
		.uris = cfg->ldap_uris,
		.starttls = cfg->ldap_starttls,
		.ca_file = cfg->ldap_ca_file,
		.bind_method = cfg->ldap_bind_method,
		.bind_dn = cfg->ldap_bind_dn,
		.base = cfg->ldap_base,
		.scope = cfg->ldap_scope,
		.user_filter = cfg->ldap_user_filter,
		.principal_filter = cfg->ldap_principal_filter,
		.access_filter = cfg->ldap_access_filter,
		.attr_login = cfg->ldap_attr_login,
		.attr_maildrop = cfg->ldap_attr_maildrop,
		.attr_status = cfg->ldap_attr_status,
		.status_enabled = cfg->ldap_status_enabled,
		.attr_login_delay = cfg->ldap_attr_login_delay,
		.attr_expire = cfg->ldap_attr_expire,
		.attr_secret = cfg->ldap_attr_secret,
		.store_root = cfg->store_root,
		.password_by_bind = cfg->ldap_password_check != NULL &&
		    strcmp(cfg->ldap_password_check, "bind") == 0,
		.timeout = cfg->ldap_timeout,
	};
	struct directory *d;
	char *pw = NULL;

	if (cfg->ldap_bind_password_file &&
	    (pw = dir_ldap_read_secret(cfg->ldap_bind_password_file, err,
	    errlen)) == NULL)
		return NULL;
	o.bind_password = pw;
	if ((d = directory_ldap_open(&o)) == NULL)
		snprintf(err, errlen, "%s: the LDAP settings are incomplete or "
		    "invalid", cfg->path);
	free_secret_str(pw);
	return d;
}
