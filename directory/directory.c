#include "config.h"

/*
 * The backend-neutral user directory: a handle that carries its backend's
 * operations.  A backend provides open/lookup/close on its own type; the
 * small adapters below give them one shape.  Adding a backend (LDAP) means
 * one ops row, two adapters and an open function here.
 */

#include <stdlib.h>

#include "common/xmalloc.h"
#include "directory/dir_file.h"
#include "directory/dir_ldap.h"
#include "directory/verifier.h"
#include "directory/directory.h"

struct dir_ops {
	const char *name;
	enum dir_result (*lookup)(void *impl, const char *name,
	    struct user_record **out);
	void (*close)(void *impl);
	enum dir_result (*lookup_principal)(void *impl, const char *principal,
	    struct user_record **out);
	enum dir_result (*check_password)(void *impl,
	    const struct user_record *u, const char *password, bool *ok);
	void (*preload)(void *impl);
	void (*forget)(void *impl);
};

struct directory {
	const struct dir_ops *ops;
	void *impl;
};

static enum dir_result
file_lookup(void *impl, const char *name, struct user_record **out)
{
	return dir_file_lookup(impl, name, out);
}

static void
file_close(void *impl)
{
	dir_file_close(impl);
}

static void
file_preload(void *impl)
{
	(void)dir_file_preload(impl);
}

static const struct dir_ops file_ops = { "file", file_lookup, file_close,
	NULL, NULL, file_preload, NULL };

static enum dir_result
ldap_lookup(void *impl, const char *name, struct user_record **out)
{
	return dir_ldap_lookup(impl, name, out);
}

static void
ldap_close(void *impl)
{
	dir_ldap_close(impl);
}

static enum dir_result
ldap_lookup_principal(void *impl, const char *principal,
    struct user_record **out)
{
	return dir_ldap_lookup_principal(impl, principal, out);
}

static enum dir_result
ldap_check_password(void *impl, const struct user_record *u,
    const char *password, bool *ok)
{
	return dir_ldap_check_password(impl, u, password, ok);
}

static void
ldap_forget(void *impl)
{
	dir_ldap_forget(impl);
}

static const struct dir_ops ldap_ops = { "ldap", ldap_lookup, ldap_close,
	ldap_lookup_principal, ldap_check_password, NULL, ldap_forget };

static struct directory *
directory_new(const struct dir_ops *ops, void *impl)
{
	struct directory *d;

	if (impl == NULL)
		return NULL;
	d = xmalloc(sizeof(*d));
	d->ops = ops;
	d->impl = impl;
	return d;
}

struct directory *
directory_file_open(const struct directory_file_options *o)
{
	return directory_new(&file_ops, dir_file_open(o));
}

struct directory *
directory_ldap_open(const struct directory_ldap_options *o)
{
	return directory_new(&ldap_ops, dir_ldap_open(o));
}

enum dir_result
directory_lookup_principal(struct directory *d, const char *principal,
    struct user_record **out)
{
	*out = NULL;
	if (d == NULL)
		return DIR_TEMPFAIL;
	if (d->ops->lookup_principal == NULL)
		return DIR_NOTFOUND;
	return d->ops->lookup_principal(d->impl, principal, out);
}

enum dir_result
directory_check_password(struct directory *d, const struct user_record *u,
    const char *password, bool *ok)
{
	if (d && d->ops->check_password)
		return d->ops->check_password(d->impl, u, password, ok);
	*ok = user_password_check(u, password);
	return DIR_OK;
}

void
directory_forget(struct directory *d)
{
	if (d && d->ops->forget)
		d->ops->forget(d->impl);
}

void
directory_preload(struct directory *d)
{
	if (d && d->ops->preload)
		d->ops->preload(d->impl);
}

enum dir_result
directory_lookup(struct directory *d, const char *name,
    struct user_record **out)
{
	*out = NULL;
	if (d == NULL)
		return DIR_TEMPFAIL;
	return d->ops->lookup(d->impl, name, out);
}

void
directory_close(struct directory *d)
{
	if (d == NULL)
		return;
	d->ops->close(d->impl);
	free(d);
}

/* Verifiers are not passwords, but they let their holder impersonate the
 * server (RFC 5803 section 5): wipe them like secrets. */
void
user_record_free(struct user_record *u)
{
	if (u == NULL)
		return;
	free(u->name);
	free(u->maildrop);
	free_secret_str(u->scram_sha256);
	free_secret_str(u->scram_sha1);
	free_secret_str(u->crypt_hash);
	free(u->source);
	free(u->bind_dn);
	free(u);
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct user_record *
user_record_copy(const struct user_record *u)
{
	struct user_record *c = xmalloc(sizeof(*c));

	*c = *u;
	c->name = dup_or_null(u->name);
	c->maildrop = dup_or_null(u->maildrop);
	c->scram_sha256 = dup_or_null(u->scram_sha256);
	c->scram_sha1 = dup_or_null(u->scram_sha1);
	c->crypt_hash = dup_or_null(u->crypt_hash);
	c->source = dup_or_null(u->source);
	c->bind_dn = dup_or_null(u->bind_dn);
	return c;
}
