#ifndef POSTERN_DIR_LDAP_H
#define POSTERN_DIR_LDAP_H

#include <stdbool.h>
#include <stddef.h>

#include "directory/directory.h"

/* The OpenLDAP backend. One connection per worker, opened on first use
 * (never across fork), reopened when it breaks (starting with the next
 * URI), every operation bounded by the configured timeout. */

struct config;
struct dir_ldap;

/* NULL when uris, base or user_filter is missing or a URI is malformed. */
struct dir_ldap *dir_ldap_open(const struct directory_ldap_options *o);
enum dir_result dir_ldap_lookup(struct dir_ldap *dl, const char *name,
    struct user_record **out);
enum dir_result dir_ldap_lookup_principal(struct dir_ldap *dl,
    const char *principal, struct user_record **out);
/* With password_by_bind, binds as u->bind_dn; otherwise checks the
 * record's verifiers.  An empty password is wrong without asking. */
enum dir_result dir_ldap_check_password(struct dir_ldap *dl,
    const struct user_record *u, const char *password, bool *ok);
void dir_ldap_close(struct dir_ldap *dl);
/* Drops the entry kept from the last lookup. */
void dir_ldap_forget(struct dir_ldap *dl);

/* The directory described by cfg's ldap_* keys (and store_root), the
 * service bind password read from ldap_bind_password_file: run it as
 * root, before dropping privileges.  NULL with err filled in. */
struct directory *dir_ldap_open_config(const struct config *cfg, char *err,
    size_t errlen);

/* RFC 4515 escaping of a value for use inside a filter: every byte that is
 * not a printable ASCII character other than * ( ) \ becomes \XX. */
char *ldap_filter_escape(const char *value);
/* Substitutes escaped value for each "%c" (c = key) in template. */
char *ldap_filter_build(const char *template, char key, const char *value);

#endif
