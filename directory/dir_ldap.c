#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "directory/dir_ldap.h"
#include "directory/verifier.h"

/* After a failed connect, lookups fail fast for this long instead of
 * hammering a dead directory from every worker. */
#define LDAP_RETRY_BACKOFF 1

struct dir_ldap {
	struct directory_ldap_options o;
	LDAP *ld;
	pid_t owner;          /* process that opened ld */
	time_t retry_after;
};

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
	for (size_t i = 0; i < NSTRING_OPTIONS; i++)
		free_secret_str(*option_slot(&dl->o, i));
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
	size_t n = 0, cap = strlen(template) + 1;
	const char *t;
	char *out;

	for (t = template; *t; t++)
		if (t[0] == '%' && t[1] == key)
			cap += strlen(esc);
	out = xmalloc(cap);
	for (t = template; *t; t++) {
		if (t[0] == '%' && t[1] == key) {
			memcpy(out + n, esc, strlen(esc));
			n += strlen(esc);
			t++;
		} else
			out[n++] = *t;
	}
	out[n] = '\0';
	free(esc);
	return out;
}

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

/* A new handle to the first URI that answers, StartTLS done. */
static LDAP *
ldap_open_handle(const struct directory_ldap_options *o, char *err,
    size_t errlen)
{
	LDAP *ld;
	int r;

	if ((r = ldap_initialize(&ld, o->uris)) != LDAP_SUCCESS) {
		snprintf(err, errlen, "ldap_initialize: %s", ldap_err2string(r));
		return NULL;
	}
	set_common_options(ld, o);
	if (o->starttls && (r = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		snprintf(err, errlen, "StartTLS: %s", ldap_err2string(r));
		ldap_unbind_ext_s(ld, NULL, NULL);
		return NULL;
	}
	return ld;
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
	if (strcmp(m, "external") == 0)
		return ldap_sasl_bind_s(ld, NULL, "EXTERNAL", &cred, NULL, NULL, NULL);
	return LDAP_SUCCESS;
}

static bool
dir_connect(struct dir_ldap *dl)
{
	char err[256];
	int r;

	if (dl->ld && dl->owner == getpid())
		return true;
	dl->ld = NULL;
	if (time(NULL) < dl->retry_after)
		return false;
	if ((dl->ld = ldap_open_handle(&dl->o, err, sizeof(err))) == NULL) {
		log_warn("LDAP %s: %s", dl->o.uris, err);
		dl->retry_after = time(NULL) + LDAP_RETRY_BACKOFF;
		return false;
	}
	dl->owner = getpid();
	if ((r = service_bind(dl->ld, &dl->o)) != LDAP_SUCCESS) {
		log_warn("LDAP %s: service bind: %s", dl->o.uris, ldap_err2string(r));
		forget_handle(dl);
		dl->retry_after = time(NULL) + LDAP_RETRY_BACKOFF;
		return false;
	}
	return true;
}

static int
ldap_scope_value(const char *scope)
{
	if (scope && strcmp(scope, "one") == 0)
		return LDAP_SCOPE_ONELEVEL;
	if (scope && strcmp(scope, "base") == 0)
		return LDAP_SCOPE_BASE;
	return LDAP_SCOPE_SUBTREE;
}

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
		log_warn("LDAP search: %s; reconnecting", ldap_err2string(r));
		ldap_msgfree(*res);
		*res = NULL;
		forget_handle(dl);
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

static int
int_value(LDAP *ld, LDAPMessage *e, const char *attr)
{
	char *s = first_value(ld, e, attr), *end;
	long v;

	if (s == NULL)
		return -1;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 1000000)
		v = -1;
	free(s);
	return (int)v;
}

static bool
has_prefix(const char *v, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix);

	return len > pl && strncasecmp(v, prefix, pl) == 0;
}

static void
set_once(char **slot, char *value)
{
	if (*slot == NULL)
		*slot = value;
	else
		free_secret_str(value);
}

/* authPassword "SCRAM-SHA-256$..." (RFC 5803), userPassword
 * "{SCRAM-SHA-256}..." (the same fields) and "{CRYPT}..." into the record. */
static void
take_secret(struct user_record *u, const char *v, size_t len)
{
	if (has_prefix(v, len, "SCRAM-SHA-256$"))
		set_once(&u->scram_sha256, xstrndup(v, len));
	else if (has_prefix(v, len, "SCRAM-SHA-1$"))
		set_once(&u->scram_sha1, xstrndup(v, len));
	else if (has_prefix(v, len, "{SCRAM-SHA-256}"))
		set_once(&u->scram_sha256, xasprintf("SCRAM-SHA-256$%.*s",
		    (int)(len - 15), v + 15));
	else if (has_prefix(v, len, "{SCRAM-SHA-1}"))
		set_once(&u->scram_sha1, xasprintf("SCRAM-SHA-1$%.*s",
		    (int)(len - 13), v + 13));
	else if (has_prefix(v, len, "{CRYPT}"))
		set_once(&u->crypt_hash, xstrndup(v + 7, len - 7));
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

static char *
maildrop_path(const struct dir_ldap *dl, const char *value, const char *name)
{
	const char *root = dl->o.store_root ? dl->o.store_root : "/var/mail/postern";

	if (value == NULL)
		return xasprintf("%s/%s", root, name);
	if (value[0] == '/')
		return xstrdup(value);
	return xasprintf("%s/%s", root, value);
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

static struct user_record *
record_from_entry(struct dir_ldap *dl, LDAPMessage *e, const char *asked)
{
	struct user_record *u = xcalloc(1, sizeof(*u));
	char *dn = ldap_get_dn(dl->ld, e), *drop;

	u->name = first_value(dl->ld, e, dl->o.attr_login);
	if (u->name == NULL)
		u->name = xstrdup(asked);
	drop = first_value(dl->ld, e, dl->o.attr_maildrop);
	u->maildrop = maildrop_path(dl, drop, u->name);
	free(drop);
	u->enabled = status_enabled(dl, dl->ld, e);
	u->login_delay = int_value(dl->ld, e, dl->o.attr_login_delay);
	u->expire_days = int_value(dl->ld, e, dl->o.attr_expire);
	take_secrets(dl->ld, e, dl->o.attr_secret, u);
	u->source = xstrdup(dn ? dn : "");
	u->bind_dn = xstrdup(dn ? dn : "");
	ldap_memfree(dn);
	return u;
}

/* Does the entry satisfy the POP access rule? */
static enum dir_result
check_access(struct dir_ldap *dl, struct user_record *u)
{
	char *attrs[] = { (char *)LDAP_NO_ATTRS, NULL };
	LDAPMessage *res;
	int r;

	if (dl->o.access_filter == NULL)
		return DIR_OK;
	r = dir_search(dl, u->bind_dn, LDAP_SCOPE_BASE, dl->o.access_filter,
	    attrs, &res);
	if (r != LDAP_SUCCESS && r != LDAP_NO_SUCH_OBJECT) {
		ldap_msgfree(res);
		return DIR_TEMPFAIL;
	}
	u->no_access = r != LDAP_SUCCESS || ldap_count_entries(dl->ld, res) != 1;
	ldap_msgfree(res);
	return DIR_OK;
}

static enum dir_result
lookup_filter(struct dir_ldap *dl, const char *template, char key,
    const char *value, struct user_record **out)
{
	char *attrs[] = {
		(char *)dl->o.attr_login, (char *)dl->o.attr_maildrop,
		(char *)dl->o.attr_status, (char *)dl->o.attr_login_delay,
		(char *)dl->o.attr_expire, (char *)dl->o.attr_secret, NULL,
	}, *compact[7], *filter;
	LDAPMessage *res;
	enum dir_result dr;
	int r, n = 0;

	for (int i = 0; i < 6; i++)
		if (attrs[i])
			compact[n++] = attrs[i];
	compact[n] = NULL;
	filter = ldap_filter_build(template, key, value);
	r = dir_search(dl, dl->o.base, ldap_scope_value(dl->o.scope), filter,
	    compact, &res);
	free(filter);
	if (r == LDAP_SIZELIMIT_EXCEEDED) {
		log_warn("LDAP: \"%s\" matches several entries; refusing", value);
		dr = DIR_NOTFOUND;
	} else if (r != LDAP_SUCCESS)
		dr = r == LDAP_NO_SUCH_OBJECT ? DIR_NOTFOUND : DIR_TEMPFAIL;
	else if (ldap_count_entries(dl->ld, res) != 1)
		dr = DIR_NOTFOUND;
	else {
		*out = record_from_entry(dl, ldap_first_entry(dl->ld, res), value);
		if ((dr = check_access(dl, *out)) != DIR_OK) {
			user_record_free(*out);
			*out = NULL;
		}
	}
	ldap_msgfree(res);
	return dr;
}

enum dir_result
dir_ldap_lookup(struct dir_ldap *dl, const char *name, struct user_record **out)
{
	return lookup_filter(dl, dl->o.user_filter, 'u', name, out);
}

enum dir_result
dir_ldap_lookup_principal(struct dir_ldap *dl, const char *principal,
    struct user_record **out)
{
	if (dl->o.principal_filter == NULL)
		return DIR_NOTFOUND;
	return lookup_filter(dl, dl->o.principal_filter, 'p', principal, out);
}

/* A bind as the user on a handle of its own, so the service connection
 * keeps its identity. */
static enum dir_result
bind_as_user(struct dir_ldap *dl, const char *dn, const char *password,
    bool *ok)
{
	struct berval cred = { strlen(password), (char *)password };
	char err[256];
	LDAP *ud;
	int r;

	if ((ud = ldap_open_handle(&dl->o, err, sizeof(err))) == NULL) {
		log_warn("LDAP user bind: %s", err);
		return DIR_TEMPFAIL;
	}
	r = ldap_sasl_bind_s(ud, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	ldap_unbind_ext_s(ud, NULL, NULL);
	*ok = r == LDAP_SUCCESS;
	if (r == LDAP_SUCCESS || r == LDAP_INVALID_CREDENTIALS ||
	    r == LDAP_INAPPROPRIATE_AUTH || r == LDAP_UNWILLING_TO_PERFORM)
		return DIR_OK;
	log_warn("LDAP user bind: %s", ldap_err2string(r));
	return DIR_TEMPFAIL;
}

enum dir_result
dir_ldap_check_password(struct dir_ldap *dl, const struct user_record *u,
    const char *password, bool *ok)
{
	*ok = false;
	/* An empty password would be an anonymous bind: success for nobody. */
	if (*password == '\0')
		return DIR_OK;
	if (dl->o.password_by_bind && u->bind_dn && *u->bind_dn)
		return bind_as_user(dl, u->bind_dn, password, ok);
	*ok = user_password_check(u, password);
	return DIR_OK;
}
