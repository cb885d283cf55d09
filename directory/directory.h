#ifndef POSTERN_DIRECTORY_H
#define POSTERN_DIRECTORY_H

#include <stdbool.h>

/* One interface for every user database (users file, LDAP). */

enum dir_result {
	DIR_OK,
	DIR_NOTFOUND,
	DIR_TEMPFAIL,   /* directory unreachable: [SYS/TEMP] */
};

/* expire=never for one user (-1 already means "the global default"). */
#define USER_EXPIRE_NEVER (-2)

struct user_record {
	char *name;             /* canonical login name */
	char *maildrop;         /* absolute path of the maildir */
	bool enabled;
	char *scram_sha256;     /* RFC 5803 "SCRAM-SHA-256$iter:salt$stored:server" */
	char *scram_sha1;       /* same form, SCRAM-SHA-1 */
	char *crypt_hash;       /* crypt(3), e.g. "$6$..." or "$y$..." */
	int login_delay;        /* -1: global default */
	int expire_days;        /* -1: global default, USER_EXPIRE_NEVER: never */
	char *source;           /* "file:/etc/postern/users" or an LDAP DN */
	bool no_access;         /* the directory's POP access rule refuses it */
	char *bind_dn;          /* LDAP: check passwords by binding as this */
};

struct directory;

struct directory_file_options {
	const char *path;       /* users file */
	const char *store_root; /* base for relative maildrop paths */
};

struct directory *directory_file_open(const struct directory_file_options *o);

struct directory_ldap_options {
	const char *uris;          /* "ldap://h1 ldaps://h2": tried in order */
	bool starttls;             /* for ldap:// URIs */
	const char *ca_file;
	const char *bind_method;   /* "none", "simple" or "external" */
	const char *bind_dn;
	const char *bind_password; /* read by the master from a root-only file */
	const char *base;
	const char *scope;         /* "sub", "one" or "base" */
	const char *user_filter;   /* "%u" is the escaped login name */
	const char *principal_filter; /* "%p" is the escaped principal */
	const char *access_filter; /* entry must also match; NULL: all may */
	const char *attr_login;
	const char *attr_maildrop;
	const char *attr_status;   /* NULL: every entry found is enabled */
	const char *status_enabled;/* value of attr_status meaning enabled */
	const char *attr_login_delay;
	const char *attr_expire;
	const char *attr_secret;   /* authPassword or userPassword */
	const char *store_root;    /* base of relative maildrops */
	bool password_by_bind;     /* check passwords by binding as the user */
	int timeout;               /* seconds, each operation and connect */
};

/* Connects lazily, in the worker that first looks a user up: a libldap
 * handle must never cross fork(). */
struct directory *directory_ldap_open(const struct directory_ldap_options *o);
/* Looks a user up by Kerberos principal (GSSAPI, KPOP) where the backend
 * can; DIR_NOTFOUND otherwise. */
enum dir_result directory_lookup_principal(struct directory *d,
    const char *principal, struct user_record **out);
/* Checks a cleartext password for u: against its verifiers, or by an LDAP
 * bind as the user when so configured. DIR_TEMPFAIL if that cannot be
 * decided now. */
enum dir_result directory_check_password(struct directory *d,
    const struct user_record *u, const char *password, bool *ok);
enum dir_result directory_lookup(struct directory *d, const char *name,
    struct user_record **out);
/* Loads what can be loaded before the workers fork (the users file), so
 * that they share it. */
void directory_preload(struct directory *d);
/* A new authentication attempt begins: what a backend kept from the
 * previous lookups of a login must be asked for again. */
void directory_forget(struct directory *d);
void directory_close(struct directory *d);
void user_record_free(struct user_record *u);
struct user_record *user_record_copy(const struct user_record *u);

#endif
