#ifndef POSTERN_PRINCIPAL_H
#define POSTERN_PRINCIPAL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Kerberos principal -> local user name, shared by KPOP and GSSAPI.
 *
 * principal is the unparsed form, "name@REALM" (krb5_unparse_name).
 * realms is the configured krb5_realms: realm names separated by blanks;
 * NULL or empty lists none.  The rule is deliberately narrow:
 *
 *   alice@EXAMPLE.ORG        -> "alice" when EXAMPLE.ORG is listed
 *   alice@OTHER.ORG          -> refused (realm not listed)
 *   alice/admin@EXAMPLE.ORG  -> refused (an instance is another identity:
 *                               "alice/admin" must never read alice's mail)
 *   alice                    -> refused (no realm)
 *   anything with a backslash (escaped '/' or '@'), a second '@', an empty
 *   name or realm, a blank or control character -> refused
 *
 * Realms compare case-sensitively, as Kerberos realms do.  On success the
 * name is copied to user (NUL-terminated) and true is returned; false if
 * refused or if the name does not fit in len bytes (user is then "").
 */
bool principal_to_user(const char *principal, const char *realms,
    char *user, size_t len);

#endif
