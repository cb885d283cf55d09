#include "config.h"

/* Kerberos principal -> local user name (see principal.h for the rule).
 * Pure string work: no krb5 context, so the SASL glue can use it too. */

#include <stdbool.h>
#include <string.h>

#include "sasl/principal.h"

/* Bytes that never belong in a name or realm we accept: blanks and
 * control characters, the component separator '/', the quoting '\\'. */
static bool
principal_bad_byte(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || c == '/' || c == '\\';
}

static bool
principal_realm_listed(const char *realm, size_t rlen, const char *realms)
{
	const char *p = realms;
	size_t n;

	if (p == NULL)
		return false;
	for (;;) {
		p += strspn(p, " \t");
		if (*p == '\0')
			return false;
		n = strcspn(p, " \t");
		if (n == rlen && memcmp(p, realm, n) == 0)
			return true;
		p += n;
	}
}

bool
principal_to_user(const char *principal, const char *realms, char *user,
    size_t len)
{
	const char *at, *p;
	size_t nlen, rlen;

	if (len > 0)
		user[0] = '\0';
	if (principal == NULL || (at = strchr(principal, '@')) == NULL ||
	    strchr(at + 1, '@') != NULL)
		return false;
	for (p = principal; *p != '\0'; p++)
		if (p != at && principal_bad_byte((unsigned char)*p))
			return false;
	nlen = (size_t)(at - principal);
	rlen = strlen(at + 1);
	if (nlen == 0 || rlen == 0 || nlen >= len ||
	    !principal_realm_listed(at + 1, rlen, realms))
		return false;
	memcpy(user, principal, nlen);
	user[nlen] = '\0';
	return true;
}
