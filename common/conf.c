/*
 * conf.c: reads postern.conf (grammar and keys in doc/postern.conf.5).
 *
 * Every key is one row of conf_keys[]: its type, where it lives in struct
 * config, its default and its range.  Defaults go through the same value
 * parser as the file, so a default can never be something the file could
 * not say.  The parser is strict: anything it does not understand is an
 * error with the file and line, because a config typo in a POP3 server
 * usually fails open (cleartext allowed, wrong network trusted).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/xmalloc.h"

/* A longer line is a mistake, or not a config file at all. */
#define CONF_LINE_MAX	4096
#define BLANKS		" \t"

enum conf_type {
	CT_STR,		/* any text */
	CT_WORD,	/* text without white space: user, host, service */
	CT_PATH,	/* absolute path: the daemon changes directory */
	CT_CHOICE,	/* one of choices[] */
	CT_INT,		/* decimal in [min, max] */
	CT_DAYS,	/* "never" (-1) or decimal in [min, max] */
	CT_BOOL,
	CT_NETS,	/* CIDR blocks; noff locates the count */
	CT_LISTEN,	/* MODE ADDRESS:PORT; the only repeatable key */
};

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t off;
	const char *def;	/* parsed like a file value; NULL: unset */
	long min, max;
	const char *const *choices;
	size_t noff;
};

static const char *const tls_versions[] = { "TLSv1.2", "TLSv1.3", NULL };
static const char *const directories[] = { "file", "ldap", NULL };
static const char *const ldap_binds[] = { "none", "simple", "external", NULL };
static const char *const ldap_scopes[] = { "sub", "one", "base", NULL };
static const char *const ldap_checks[] = { "verifier", "bind", NULL };
/* The facilities a site may reasonably route an audit trail by. */
static const char *const facilities[] = {
	"auth", "authpriv", "daemon", "mail", "user", "local0", "local1",
	"local2", "local3", "local4", "local5", "local6", "local7", NULL
};

#define OFF(f)			offsetof(struct config, f)
#define K_TYPED(f, t, d)	{ #f, t, OFF(f), d, 0, 0, NULL, 0 }
#define K_INT(f, d, lo, hi)	{ #f, CT_INT, OFF(f), d, lo, hi, NULL, 0 }
#define K_CHOICE(f, d, c)	{ #f, CT_CHOICE, OFF(f), d, 0, 0, c, 0 }

/* Key names are the field names, so the two cannot drift apart. */
static const struct conf_key conf_keys[] = {
	{ "listen", CT_LISTEN, OFF(listeners), NULL, 0, 0, NULL,
	    OFF(nlisteners) },
	K_TYPED(user, CT_WORD, "postern"),
	K_TYPED(group, CT_WORD, NULL),
	K_TYPED(pid_file, CT_PATH, "/run/postern/posternd.pid"),
	K_TYPED(state_dir, CT_PATH, "/var/lib/postern"),
	K_INT(min_spare_workers, "2", 0, 4096),
	K_INT(max_spare_workers, "8", 1, 4096),
	K_INT(max_workers, "64", 1, 4096),
	K_INT(max_sessions_per_worker, "1000", 1, 1000000),
	K_INT(shutdown_timeout, "30", 0, 3600),
	K_TYPED(hostname, CT_WORD, NULL),
	K_TYPED(greeting, CT_STR, "Postern POP3 server ready"),
	K_INT(idle_timeout, "600", 10, 86400),
	K_INT(login_timeout, "600", 5, 86400),
	K_INT(handshake_timeout, "30", 1, 3600),
	K_INT(max_sessions_per_ip, "50", 0, 1000000),
	K_INT(bad_command_limit, "10", 1, 1000),
	K_INT(login_delay, "0", 0, 86400),
	{ "expire_days", CT_DAYS, OFF(expire_days), "never", 0, 9999, NULL, 0 },
	K_TYPED(tls_cert, CT_PATH, NULL),
	K_TYPED(tls_key, CT_PATH, NULL),
	K_CHOICE(tls_min_version, "TLSv1.2", tls_versions),
	K_TYPED(tls_ciphers, CT_STR, NULL),
	K_TYPED(tls_ciphersuites, CT_STR, NULL),
	{ "trusted_networks", CT_NETS, OFF(trusted_networks), NULL, 0, 0, NULL,
	    OFF(ntrusted_networks) },
	K_TYPED(allow_cleartext_without_tls, CT_BOOL, "no"),
	K_INT(throttle_failures, "5", 0, 100000),
	K_INT(throttle_block, "30", 0, 100000),
	K_INT(throttle_window, "600", 1, 86400),
	K_INT(throttle_delay, "1", 0, 60),
	K_INT(throttle_max_delay, "5", 0, 60),
	K_INT(throttle_cooldown, "900", 1, 86400),
	K_INT(throttle_entries, "16384", 64, 4194304),
	{ "proxy_networks", CT_NETS, OFF(proxy_networks), NULL, 0, 0, NULL,
	    OFF(nproxy_networks) },
	K_CHOICE(directory, "file", directories),
	K_TYPED(users_file, CT_PATH, "/etc/postern/users"),
	K_TYPED(store_root, CT_PATH, "/var/mail/postern"),
	K_TYPED(ldap_uris, CT_STR, NULL),
	K_TYPED(ldap_starttls, CT_BOOL, "no"),
	K_TYPED(ldap_ca_file, CT_PATH, NULL),
	K_CHOICE(ldap_bind_method, "none", ldap_binds),
	K_TYPED(ldap_bind_dn, CT_STR, NULL),
	K_TYPED(ldap_bind_password_file, CT_PATH, NULL),
	K_TYPED(ldap_base, CT_STR, NULL),
	K_CHOICE(ldap_scope, "sub", ldap_scopes),
	K_TYPED(ldap_user_filter, CT_STR, "(&(objectClass=posixAccount)(uid=%u))"),
	K_TYPED(ldap_principal_filter, CT_STR, NULL),
	K_TYPED(ldap_access_filter, CT_STR, NULL),
	K_TYPED(ldap_attr_login, CT_WORD, "uid"),
	K_TYPED(ldap_attr_maildrop, CT_WORD, NULL),
	K_TYPED(ldap_attr_status, CT_WORD, NULL),
	K_TYPED(ldap_status_enabled, CT_WORD, "active"),
	K_TYPED(ldap_attr_login_delay, CT_WORD, NULL),
	K_TYPED(ldap_attr_expire, CT_WORD, NULL),
	K_TYPED(ldap_attr_secret, CT_WORD, "authPassword"),
	K_CHOICE(ldap_password_check, "verifier", ldap_checks),
	K_INT(ldap_timeout, "5", 1, 300),
	K_TYPED(sasl_mechanisms, CT_STR, "SCRAM-SHA-256 SCRAM-SHA-1 GSSAPI PLAIN"),
	K_TYPED(krb5_keytab, CT_STR, NULL),
	K_TYPED(krb5_service, CT_WORD, "pop"),
	K_TYPED(krb5_realms, CT_STR, NULL),
	K_TYPED(sasl_proxy_users, CT_STR, NULL),
	K_TYPED(audit_socket, CT_PATH, "/dev/log"),
	K_CHOICE(audit_facility_auth, "authpriv", facilities),
	K_CHOICE(audit_facility, "mail", facilities),
	K_TYPED(audit_required, CT_BOOL, "no"),
};
#define NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))

static const char *const mode_names[] = {
	[LISTEN_POP3] = "pop3", [LISTEN_POP3S] = "pop3s", [LISTEN_KPOP] = "kpop",
};

static const struct {
	const char *word;
	bool value;
} bool_words[] = {
	{ "yes", true }, { "true", true }, { "on", true }, { "1", true },
	{ "no", false }, { "false", false }, { "off", false }, { "0", false },
};

struct parser {
	struct config *cfg;
	const char *path;
	int line;		/* 0: the message is about the whole file */
	int seen[NKEYS];	/* line where each key was set, 0 if not */
	char *err;
	size_t errlen;
};

static bool conf_error(struct parser *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Always returns false, so callers can write "return conf_error(...)". */
static bool
conf_error(struct parser *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err == NULL || p->errlen == 0)
		return false;
	if (p->line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->path, p->line, msg);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->path, msg);
	return false;
}

/* The field of cfg at offset off; the table says what type it has. */
static void *
field(struct config *cfg, size_t off)
{
	return (char *)cfg + off;
}

static const void *
cfield(const struct config *cfg, size_t off)
{
	return (const char *)cfg + off;
}

static const struct conf_key *
find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

static int
key_line(const struct parser *p, const char *name)
{
	return p->seen[find_key(name) - conf_keys];
}

/*
 * Value parsers: one per type.  Each either stores the value or leaves
 * the config untouched and reports why.
 */

/* Digits only: no sign, no blanks, no hex, no trailing text. */
static bool
parse_number(struct parser *p, const struct conf_key *k, const char *v,
    long *out)
{
	char *end;

	if (*v == '\0' || strspn(v, "0123456789") != strlen(v))
		return conf_error(p, "%s must be a number, not \"%s\"",
		    k->name, v);
	errno = 0;
	*out = strtol(v, &end, 10);
	if (errno == ERANGE || *out < k->min || *out > k->max)
		return conf_error(p, "%s %s out of range (%ld-%ld)", k->name,
		    v, k->min, k->max);
	return true;
}

static bool
set_int(struct parser *p, const struct conf_key *k, const char *v)
{
	long n;

	if (k->type == CT_DAYS && strcmp(v, "never") == 0)
		n = -1;
	else if (!parse_number(p, k, v, &n))
		return false;
	*(int *)field(p->cfg, k->off) = (int)n;
	return true;
}

static bool
set_bool(struct parser *p, const struct conf_key *k, const char *v)
{
	bool *b = field(p->cfg, k->off);

	for (size_t i = 0; i < sizeof(bool_words) / sizeof(bool_words[0]); i++)
		if (strcasecmp(v, bool_words[i].word) == 0) {
			*b = bool_words[i].value;
			return true;
		}
	return conf_error(p, "%s must be yes or no, not \"%s\"", k->name, v);
}

static bool
check_choice(struct parser *p, const struct conf_key *k, const char *v)
{
	char list[128] = "";

	for (const char *const *c = k->choices; *c != NULL; c++) {
		if (strcmp(*c, v) == 0)
			return true;
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s%s", c == k->choices ? "" : ", ", *c);
	}
	return conf_error(p, "%s must be one of %s, not \"%s\"", k->name,
	    list, v);
}

static bool
set_str(struct parser *p, const struct conf_key *k, const char *v)
{
	char **s = field(p->cfg, k->off);

	if (k->type == CT_WORD && strpbrk(v, BLANKS) != NULL)
		return conf_error(p, "%s must be a single word", k->name);
	if (k->type == CT_PATH && v[0] != '/')
		return conf_error(p, "%s must be an absolute path", k->name);
	if (k->type == CT_CHOICE && !check_choice(p, k, v))
		return false;
	free(*s);
	*s = xstrdup(v);
	return true;
}

static bool
set_nets(struct parser *p, const struct conf_key *k, const char *v)
{
	struct netblock *list = NULL, **nets;
	char *copy = xstrdup(v), *save = NULL, *tok;
	int n = 0;

	for (tok = strtok_r(copy, BLANKS ",", &save); tok != NULL;
	    tok = strtok_r(NULL, BLANKS ",", &save)) {
		list = xreallocarray(list, (size_t)n + 1, sizeof(*list));
		if (!netblock_parse(tok, &list[n++])) {
			conf_error(p, "invalid network \"%s\" in %s", tok,
			    k->name);
			free(list);
			free(copy);
			return false;
		}
	}
	free(copy);
	if (n == 0)
		return conf_error(p, "%s lists no network", k->name);
	nets = field(p->cfg, k->off);
	free(*nets);
	*nets = list;
	*(int *)field(p->cfg, k->noff) = n;
	return true;
}

/*
 * listen = MODE ADDRESS:PORT
 */

static bool
parse_mode(struct parser *p, const char *word, enum listener_mode *mode)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (strcmp(word, mode_names[i]) == 0) {
			*mode = (enum listener_mode)i;
			return true;
		}
	return conf_error(p, "unknown listener mode \"%s\" "
	    "(pop3, pop3s or kpop)", word);
}

/* Stores the address in canonical form so duplicates can be compared. */
static bool
parse_host(struct parser *p, const char *text, int af, char **host)
{
	unsigned char bin[16];
	char buf[INET6_ADDRSTRLEN];

	if (af == AF_INET && strcmp(text, "*") == 0) {
		*host = xstrdup("*");
		return true;
	}
	if (inet_pton(af, text, bin) != 1 ||
	    inet_ntop(af, bin, buf, sizeof(buf)) == NULL)
		return conf_error(p, "invalid %s address \"%s\"",
		    af == AF_INET ? "IPv4" : "IPv6", text);
	*host = xstrdup(buf);
	return true;
}

static bool
parse_port(struct parser *p, const char *text, char **port)
{
	static const struct conf_key port_key = {
		"port", CT_INT, 0, NULL, 1, 65535, NULL, 0
	};
	long n;

	if (!parse_number(p, &port_key, text, &n))
		return false;
	*port = xasprintf("%ld", n);
	return true;
}

/* "[v6]:port", "v4:port" or "*:port"; text is modified. */
static bool
parse_hostport(struct parser *p, char *text, struct listener_conf *l)
{
	char *host = text, *colon;
	int af = AF_INET;

	if (*text == '[') {
		if ((colon = strchr(text, ']')) == NULL || colon[1] != ':')
			return conf_error(p, "bad address \"%s\": expected "
			    "[IPV6]:PORT", text);
		*colon++ = '\0';
		host++;
		af = AF_INET6;
	} else if ((colon = strrchr(text, ':')) == NULL)
		return conf_error(p, "no port in \"%s\"", text);
	*colon = '\0';
	if (af == AF_INET && strchr(host, ':') != NULL)
		return conf_error(p, "IPv6 address \"%s\" must be in brackets",
		    host);
	if (!parse_host(p, host, af, &l->host))
		return false;
	if (parse_port(p, colon + 1, &l->port))
		return true;
	free(l->host);
	return false;
}

static bool
check_listener_unique(struct parser *p, const struct listener_conf *l)
{
	char addr[INET6_ADDRSTRLEN + 16];

	for (int i = 0; i < p->cfg->nlisteners; i++) {
		const struct listener_conf *o = &p->cfg->listeners[i];

		if (strcmp(o->host, l->host) != 0 ||
		    strcmp(o->port, l->port) != 0)
			continue;
		listener_format(l, addr, sizeof(addr));
		return conf_error(p, "%s is already used by the listener on "
		    "line %d", addr, o->line);
	}
	return true;
}

static bool
parse_listen(struct parser *p, char *v, struct listener_conf *l)
{
	char *addr = v + strcspn(v, BLANKS);

	if (*addr != '\0')
		*addr++ = '\0';
	addr += strspn(addr, BLANKS);
	if (*addr == '\0' || addr[strcspn(addr, BLANKS)] != '\0')
		return conf_error(p, "listen needs \"MODE ADDRESS:PORT\"");
	if (!parse_mode(p, v, &l->mode) || !parse_hostport(p, addr, l))
		return false;
	if (check_listener_unique(p, l))
		return true;
	free(l->host);
	free(l->port);
	return false;
}

static bool
set_listen(struct parser *p, const struct conf_key *k, const char *v)
{
	struct config *cfg = p->cfg;
	struct listener_conf l = { .line = p->line };
	char *copy = xstrdup(v);
	bool ok;

	(void)k;
	if ((ok = parse_listen(p, copy, &l))) {
		cfg->listeners = xreallocarray(cfg->listeners,
		    (size_t)cfg->nlisteners + 1, sizeof(l));
		cfg->listeners[cfg->nlisteners++] = l;
	}
	free(copy);
	return ok;
}

static bool
conf_set(struct parser *p, const struct conf_key *k, const char *v)
{
	switch (k->type) {
	case CT_INT:
	case CT_DAYS:
		return set_int(p, k, v);
	case CT_BOOL:
		return set_bool(p, k, v);
	case CT_NETS:
		return set_nets(p, k, v);
	case CT_LISTEN:
		return set_listen(p, k, v);
	default:
		return set_str(p, k, v);
	}
}

/*
 * Lines.
 */

static void
trim_right(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* '#' opens a comment at the start of the value or after a blank. */
static void
strip_comment(char *s)
{
	for (size_t i = 0; s[i] != '\0'; i++)
		if (s[i] == '#' && (i == 0 || s[i - 1] == ' ' ||
		    s[i - 1] == '\t')) {
			s[i] = '\0';
			return;
		}
}

static bool
unquote(struct parser *p, const struct conf_key *k, char *s, char **value)
{
	char *end = strchr(s + 1, '"'), *rest;

	if (end == NULL)
		return conf_error(p, "unterminated quote in %s", k->name);
	*end = '\0';
	rest = end + 1 + strspn(end + 1, BLANKS);
	if (*rest != '\0' && *rest != '#')
		return conf_error(p, "unexpected text after the closing quote "
		    "of %s", k->name);
	*value = s + 1;
	return true;
}

static bool
split_value(struct parser *p, const struct conf_key *k, char *s,
    char **value)
{
	s += strspn(s, BLANKS);
	if (*s == '"') {
		if (!unquote(p, k, s, value))
			return false;
	} else {
		strip_comment(s);
		trim_right(s);
		*value = s;
	}
	if (**value == '\0')
		return conf_error(p, "missing value for %s", k->name);
	for (const char *c = *value; *c != '\0'; c++)
		if (iscntrl((unsigned char)*c) && *c != '\t')
			return conf_error(p, "control character in the value "
			    "of %s", k->name);
	return true;
}

static bool
valid_key(const char *s)
{
	if (!islower((unsigned char)*s))
		return false;
	for (; *s != '\0'; s++)
		if (!islower((unsigned char)*s) &&
		    !isdigit((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* Keeps terminal escapes in a broken file out of the error message. */
static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isgraph((unsigned char)*s))
			return false;
	return true;
}

static const struct conf_key *
parse_key(struct parser *p, char *s, char **rest)
{
	size_t len = strcspn(s, BLANKS "=");
	char *eq = s + len + strspn(s + len, BLANKS);
	const struct conf_key *k;

	if (len == 0 || *eq != '=') {
		conf_error(p, "expected \"key = value\"");
		return NULL;
	}
	s[len] = '\0';
	*rest = eq + 1;
	if (!valid_key(s) && !printable(s))
		conf_error(p, "invalid character in key");
	else if (!valid_key(s))
		conf_error(p, "invalid key \"%s\": keys are lowercase", s);
	else if ((k = find_key(s)) == NULL)
		conf_error(p, "unknown key \"%s\"", s);
	else
		return k;
	return NULL;
}

static bool
parse_line(struct parser *p, char *line)
{
	const struct conf_key *k;
	char *s, *value = NULL;
	int *seen;

	trim_right(line);
	s = line + strspn(line, BLANKS);
	if (*s == '\0' || *s == '#')
		return true;
	if ((k = parse_key(p, s, &s)) == NULL)
		return false;
	seen = &p->seen[k - conf_keys];
	if (*seen && k->type != CT_LISTEN)
		return conf_error(p, "duplicate key \"%s\" (first set on line "
		    "%d)", k->name, *seen);
	if (!split_value(p, k, s, &value) || !conf_set(p, k, value))
		return false;
	*seen = p->line;
	return true;
}

static bool
parse_stream(struct parser *p, FILE *fp)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool ok = true;

	while (ok && (n = getline(&line, &cap, fp)) != -1) {
		p->line++;
		if (memchr(line, '\0', (size_t)n) != NULL)
			ok = conf_error(p, "NUL byte in line");
		else if (n > CONF_LINE_MAX)
			ok = conf_error(p, "line longer than %d bytes",
			    CONF_LINE_MAX);
		else
			ok = parse_line(p, line);
	}
	free(line);
	if (ok && ferror(fp)) {
		p->line = 0;
		return conf_error(p, "read error: %s", strerror(errno));
	}
	return ok;
}

/*
 * Checks that involve more than one key, after the whole file is read.
 */

static bool
check_workers(struct parser *p)
{
	const struct config *c = p->cfg;

	if (c->min_spare_workers > c->max_spare_workers)
		return conf_error(p, "min_spare_workers (%d) exceeds "
		    "max_spare_workers (%d)", c->min_spare_workers,
		    c->max_spare_workers);
	if (c->max_spare_workers > c->max_workers)
		return conf_error(p, "max_spare_workers (%d) exceeds "
		    "max_workers (%d)", c->max_spare_workers, c->max_workers);
	return true;
}

static bool
check_listeners(struct parser *p)
{
	const struct config *c = p->cfg;

	if (c->nlisteners == 0)
		return conf_error(p, "no listener configured");
	for (int i = 0; i < c->nlisteners; i++) {
		const struct listener_conf *l = &c->listeners[i];

		if (l->mode == LISTEN_KPOP && c->krb5_keytab == NULL)
			return conf_error(p, "the kpop listener on line %d "
			    "needs krb5_keytab", l->line);
		if (l->mode == LISTEN_KPOP && c->krb5_realms == NULL)
			return conf_error(p, "the kpop listener on line %d "
			    "needs krb5_realms (principals of other realms are "
			    "refused)", l->line);
		if (l->mode != LISTEN_KPOP &&
		    (c->tls_cert == NULL || c->tls_key == NULL))
			return conf_error(p, "the %s listener on line %d needs "
			    "tls_cert and tls_key%s", mode_names[l->mode],
			    l->line, l->mode == LISTEN_POP3 ? " (for STLS)" : "");
	}
	return true;
}

/* The master reads these as root before it drops privileges. */
static bool
check_readable(struct parser *p, const char *key, const char *path)
{
	if (path == NULL || access(path, R_OK) == 0)
		return true;
	p->line = key_line(p, key);
	return conf_error(p, "cannot read %s \"%s\": %s", key, path,
	    strerror(errno));
}

/* Only plain file keytabs can be checked; "MEMORY:x" and such cannot. */
static const char *
keytab_file(const char *name)
{
	if (name == NULL)
		return NULL;
	if (strncmp(name, "FILE:", 5) == 0)
		return name + 5;
	if (strncmp(name, "WRFILE:", 7) == 0)
		return name + 7;
	return name[0] == '/' ? name : NULL;
}

static bool
check_ldap(struct parser *p)
{
	const struct config *c = p->cfg;

	if (strcmp(c->directory, "ldap") != 0)
		return true;
	if (c->ldap_uris == NULL || c->ldap_base == NULL)
		return conf_error(p, "directory = ldap needs ldap_uris and ldap_base");
	if (strcmp(c->ldap_bind_method, "simple") == 0 &&
	    (c->ldap_bind_dn == NULL || c->ldap_bind_password_file == NULL))
		return conf_error(p, "ldap_bind_method = simple needs ldap_bind_dn "
		    "and ldap_bind_password_file");
	if (strstr(c->ldap_user_filter, "%u") == NULL)
		return conf_error(p, "ldap_user_filter must contain %%u");
	if (c->ldap_principal_filter && !strstr(c->ldap_principal_filter, "%p"))
		return conf_error(p, "ldap_principal_filter must contain %%p");
	return true;
}

/* A longer path cannot be connected to, and every event would be lost. */
static bool
check_audit_socket(struct parser *p)
{
	struct sockaddr_un addr;

	if (strlen(p->cfg->audit_socket) < sizeof(addr.sun_path))
		return true;
	p->line = key_line(p, "audit_socket");
	return conf_error(p, "audit_socket is longer than a unix socket path "
	    "may be (%zu bytes)", sizeof(addr.sun_path) - 1);
}

static bool
check_config(struct parser *p)
{
	p->line = 0;
	return check_listeners(p) && check_workers(p) && check_ldap(p) &&
	    check_readable(p, "ldap_ca_file", p->cfg->ldap_ca_file) &&
	    check_readable(p, "ldap_bind_password_file",
	        p->cfg->ldap_bind_password_file) &&
	    check_audit_socket(p) &&
	    check_readable(p, "tls_cert", p->cfg->tls_cert) &&
	    check_readable(p, "tls_key", p->cfg->tls_key) &&
	    check_readable(p, "krb5_keytab", keytab_file(p->cfg->krb5_keytab));
}

/*
 * Public interface.
 */

struct config *
config_defaults(void)
{
	struct parser p = { .path = "(built-in defaults)" };
	char err[256];

	p.cfg = xcalloc(1, sizeof(*p.cfg));
	p.err = err;
	p.errlen = sizeof(err);
	for (size_t i = 0; i < NKEYS; i++)
		if (conf_keys[i].def != NULL &&
		    !conf_set(&p, &conf_keys[i], conf_keys[i].def))
			fatal("%s", err);
	return p.cfg;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct parser p = { .path = path, .err = err, .errlen = errlen };
	FILE *fp;
	bool ok;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((fp = fopen(path, "r")) == NULL) {
		conf_error(&p, "cannot open: %s", strerror(errno));
		return NULL;
	}
	p.cfg = config_defaults();
	p.cfg->path = xstrdup(path);
	ok = parse_stream(&p, fp) && check_config(&p);
	fclose(fp);
	if (ok)
		return p.cfg;
	config_free(p.cfg);
	return NULL;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->type == CT_STR || k->type == CT_WORD ||
		    k->type == CT_PATH || k->type == CT_CHOICE)
			free(*(char **)field(cfg, k->off));
		else if (k->type == CT_NETS)
			free(*(struct netblock **)field(cfg, k->off));
	}
	for (int i = 0; i < cfg->nlisteners; i++) {
		free(cfg->listeners[i].host);
		free(cfg->listeners[i].port);
	}
	free(cfg->listeners);
	free(cfg->path);
	free(cfg);
}

const char *
listener_mode_name(enum listener_mode mode)
{
	if ((size_t)mode >= sizeof(mode_names) / sizeof(mode_names[0]))
		return "unknown";
	return mode_names[mode];
}

void
listener_format(const struct listener_conf *l, char *buf, size_t len)
{
	if (strchr(l->host, ':') != NULL)
		snprintf(buf, len, "[%s]:%s", l->host, l->port);
	else
		snprintf(buf, len, "%s:%s", l->host, l->port);
}

const char *
conf_default_path(void)
{
	return SYSCONFDIR "/postern/postern.conf";
}

/*
 * config_dump: the inverse of the parser.
 */

/* Quotes exactly when the parser would otherwise trim or cut the value;
 * values that came from a file never need quotes and contain '"'. */
static void
dump_str(FILE *fp, const char *name, const char *v)
{
	size_t n = strlen(v);
	bool quote = n == 0 || v[0] == '"' || v[0] == '#' ||
	    strchr(BLANKS, v[0]) != NULL || strchr(BLANKS, v[n - 1]) != NULL ||
	    strstr(v, " #") != NULL || strstr(v, "\t#") != NULL;

	fprintf(fp, quote ? "%s = \"%s\"\n" : "%s = %s\n", name, v);
}

static void
dump_nets(FILE *fp, const struct conf_key *k, const struct config *cfg)
{
	const struct netblock *nb = *(struct netblock *const *)cfield(cfg, k->off);
	int n = *(const int *)cfield(cfg, k->noff);
	char buf[INET6_ADDRSTRLEN];

	if (n == 0)
		return;
	fprintf(fp, "%s =", k->name);
	for (int i = 0; i < n; i++) {
		inet_ntop(nb[i].family, nb[i].addr, buf, sizeof(buf));
		fprintf(fp, "%s %s/%d", i ? "," : "", buf, nb[i].prefix);
	}
	fputc('\n', fp);
}

static void
dump_listeners(FILE *fp, const struct config *cfg)
{
	char addr[INET6_ADDRSTRLEN + 16];

	for (int i = 0; i < cfg->nlisteners; i++) {
		listener_format(&cfg->listeners[i], addr, sizeof(addr));
		fprintf(fp, "listen = %s %s\n",
		    mode_names[cfg->listeners[i].mode], addr);
	}
}

static void
dump_key(FILE *fp, const struct conf_key *k, const struct config *cfg)
{
	const int *n = cfield(cfg, k->off);
	const bool *b = cfield(cfg, k->off);
	char *const *s = cfield(cfg, k->off);

	switch (k->type) {
	case CT_LISTEN:
		dump_listeners(fp, cfg);
		break;
	case CT_NETS:
		dump_nets(fp, k, cfg);
		break;
	case CT_BOOL:
		fprintf(fp, "%s = %s\n", k->name, *b ? "yes" : "no");
		break;
	case CT_INT:
	case CT_DAYS:
		if (k->type == CT_DAYS && *n < 0)
			fprintf(fp, "%s = never\n", k->name);
		else
			fprintf(fp, "%s = %d\n", k->name, *n);
		break;
	default:
		if (*s != NULL)
			dump_str(fp, k->name, *s);
	}
}

void
config_dump(const struct config *cfg, FILE *fp)
{
	for (size_t i = 0; i < NKEYS; i++)
		dump_key(fp, &conf_keys[i], cfg);
}
