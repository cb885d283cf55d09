#ifndef POSTERN_CONF_H
#define POSTERN_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/netaddr.h"

/* posternd.conf: one "key = value" per line, '#' starts a comment,
 * "listen" may repeat. See doc/postern.conf.5 for every key. */

enum listener_mode {
	LISTEN_POP3,  /* plain POP3, STLS offered */
	LISTEN_POP3S, /* implicit TLS (RFC 8314) */
	LISTEN_KPOP,  /* Kerberos 5 sendauth, then POP3 */
};

struct listener_conf {
	enum listener_mode mode;
	char *host;     /* numeric address or "*" for all; never NULL */
	char *port;     /* numeric port */
	int line;       /* where it was declared, for messages */
};

struct config {
	char *path;

	struct listener_conf *listeners;
	int nlisteners;

	/* process */
	char *user;             /* unprivileged service user ("postern") */
	char *group;            /* its group (default: the user's primary) */
	char *pid_file;
	char *state_dir;        /* local disk: scoreboard, replay cache */
	int min_spare_workers;  /* 2 */
	int max_spare_workers;  /* 8 */
	int max_workers;        /* 64 */
	int max_sessions_per_worker; /* 1000 */
	int shutdown_timeout;   /* seconds sessions get on SIGTERM: 30 */

	/* protocol */
	char *hostname;         /* greeting, SASL serverFQDN; default gethostname() */
	char *greeting;         /* text after "+OK " */
	int idle_timeout;       /* autologout seconds, >= 600 by RFC 1939: 600 */
	int login_timeout;      /* seconds a client may stay unauthenticated */
	int handshake_timeout;  /* TLS, KPOP and PROXY handshakes: 30 */
	int max_sessions_per_ip;/* 0: no limit */
	int bad_command_limit;  /* session ends after this many: 10 */
	int login_delay;        /* seconds, advertised LOGIN-DELAY: 0 */
	int expire_days;        /* advertised EXPIRE: -1 = NEVER */

	/* TLS */
	char *tls_cert;         /* PEM chain */
	char *tls_key;
	char *tls_min_version;  /* "TLSv1.2" or "TLSv1.3" */
	char *tls_ciphers;      /* TLS 1.2 cipher list, NULL = OpenSSL default */
	char *tls_ciphersuites; /* TLS 1.3 suites, NULL = default */

	/* policy */
	struct netblock *trusted_networks;
	int ntrusted_networks;
	bool allow_cleartext_without_tls; /* "no": never change lightly */
	int throttle_failures;  /* failures per address or user before delays */
	int throttle_block;     /* failures before refusing for a cool-down */
	int throttle_window;    /* seconds over which failures count */
	int throttle_delay;     /* seconds added per failure past the first limit */
	int throttle_max_delay;
	int throttle_cooldown;  /* seconds */
	int throttle_entries;   /* shared table size: bounds its memory */
	struct netblock *proxy_networks;  /* load balancers sending PROXY headers */
	int nproxy_networks;

	/* directory */
	char *directory;        /* "file" (default) or "ldap" */
	char *users_file;
	char *store_root;       /* relative maildrop paths are under it */

	/* LDAP directory (directory = ldap) */
	char *ldap_uris;        /* tried in order: failover */
	bool ldap_starttls;
	char *ldap_ca_file;
	char *ldap_bind_method; /* none | simple | external */
	char *ldap_bind_dn;
	char *ldap_bind_password_file;
	char *ldap_base;
	char *ldap_scope;       /* sub | one | base */
	char *ldap_user_filter; /* %u: the login name, escaped */
	char *ldap_principal_filter; /* %p: the Kerberos principal, escaped */
	char *ldap_access_filter;
	char *ldap_attr_login;
	char *ldap_attr_maildrop;
	char *ldap_attr_status;
	char *ldap_status_enabled;
	char *ldap_attr_login_delay;
	char *ldap_attr_expire;
	char *ldap_attr_secret;
	char *ldap_password_check; /* verifier | bind */
	int ldap_timeout;

	/* SASL */
	char *sasl_mechanisms;  /* space-separated list offered, in order */
	char *krb5_keytab;
	char *krb5_service;     /* "pop" */
	char *krb5_realms;      /* space-separated realms stripped from principals */
	char *sasl_proxy_users; /* identities that may log in as any user */

	/* audit trail (doc/postern-audit.7) */
	char *audit_socket;     /* unix datagram socket of the logger: /dev/log */
	char *audit_facility_auth; /* syslog facility of auth events: authpriv */
	char *audit_facility;   /* of message and logout events: mail */
	bool audit_required;    /* refuse logins that cannot be audited: no */
};

/* Reads and validates a config file. On error returns NULL and writes
 * "file:line: message" into err. */
struct config *config_load(const char *path, char *err, size_t errlen);
void config_free(struct config *cfg);
/* Defaults only, for tests and the built-in demo. */
struct config *config_defaults(void);
const char *listener_mode_name(enum listener_mode mode);
/* "ADDRESS:PORT" as the config spells it: "*:110", "[::1]:995". */
void listener_format(const struct listener_conf *l, char *buf, size_t len);
/* SYSCONFDIR "/postern/postern.conf": where posternd looks without -f. */
const char *conf_default_path(void);
/* Writes every set key as "key = value", in a form config_load reads
 * back to the same config (for "posternd -T" and tests). */
void config_dump(const struct config *cfg, FILE *fp);

#endif
