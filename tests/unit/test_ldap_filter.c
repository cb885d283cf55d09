/* Unit tests for directory/dir_ldap.c: RFC 4515 escaping of what clients
 * send before it enters a filter, the filter templates, and the parts of
 * the backend that need no server (option checks, empty passwords, a
 * directory nobody answers for). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "directory/dir_ldap.h"
#include "tests/unit/check.h"

static void
check_escape(const char *value, const char *want)
{
	char *got = ldap_filter_escape(value);

	CHECK_STR(got, want);
	free(got);
}

static void
check_build(const char *template, char key, const char *value,
    const char *want)
{
	char *got = ldap_filter_build(template, key, value);

	CHECK_STR(got, want);
	free(got);
}

/* RFC 4515 section 3: '*', '(', ')', '\' and NUL must be escaped; we also
 * escape every byte outside printable ASCII. */
static void
test_escape(void)
{
	check_escape("", "");
	check_escape("alice", "alice");
	check_escape("alice@example.org", "alice@example.org");
	check_escape("*", "\\2A");
	check_escape("(", "\\28");
	check_escape(")", "\\29");
	check_escape("\\", "\\5C");
	check_escape("*)(uid=*", "\\2A\\29\\28uid=\\2A");
	check_escape("a\\2Ab", "a\\5C2Ab");
	/* Filter operators are harmless inside a value. */
	check_escape("a=b&c|d!e~f<g>h", "a=b&c|d!e~f<g>h");
	check_escape("\x01\x1f \x7f", "\\01\\1F \\7F");
	check_escape("caf\xc3\xa9", "caf\\C3\\A9");
	check_escape("\xff", "\\FF");
}

static void
test_escape_long(void)
{
	char value[1001], want[3001], *got;

	memset(value, '*', 1000);
	value[1000] = '\0';
	for (int i = 0; i < 1000; i++)
		memcpy(want + 3 * i, "\\2A", 3);
	want[3000] = '\0';
	got = ldap_filter_escape(value);
	CHECK_STR(got, want);
	free(got);
}

static void
test_build(void)
{
	check_build("(uid=%u)", 'u', "bob", "(uid=bob)");
	check_build("(&(objectClass=posternAccount)(uid=%u))", 'u', "*)(uid=*",
	    "(&(objectClass=posternAccount)(uid=\\2A\\29\\28uid=\\2A))");
	check_build("(|(uid=%u)(mail=%u))", 'u', "a*",
	    "(|(uid=a\\2A)(mail=a\\2A))");
	/* Only the given key is substituted. */
	check_build("(&(uid=%u)(krbPrincipalName=%p))", 'p', "alice@R",
	    "(&(uid=%u)(krbPrincipalName=alice@R))");
	check_build("(krbPrincipalName=%p)", 'p', "a)(b", "(krbPrincipalName=a\\29\\28b)");
	/* A lone '%' or one at the end stays as it is. */
	check_build("(cn=50%)", 'u', "x", "(cn=50%)");
	check_build("(cn=%x%u)", 'u', "y", "(cn=%xy)");
	check_build("(uid=%u)", 'u', "", "(uid=)");
	check_build("(objectClass=*)", 'u', "*", "(objectClass=*)");
	/* The value is substituted once, not rescanned for keys. */
	check_build("(uid=%u)", 'u', "%u", "(uid=%u)");
}

static const struct directory_ldap_options base_options = {
	.uris = "ldap://127.0.0.1:1",
	.base = "dc=postern,dc=test",
	.user_filter = "(uid=%u)",
	.attr_secret = "authPassword",
	.timeout = 2,
};

static void
test_open(void)
{
	struct directory_ldap_options o = base_options;
	struct dir_ldap *dl;

	CHECK((dl = dir_ldap_open(&o)) != NULL);
	dir_ldap_close(dl);
	o.uris = "ldap://127.0.0.1:1, ldaps://127.0.0.1:2 ldapi://%2Ftmp%2Fx";
	CHECK((dl = dir_ldap_open(&o)) != NULL);
	dir_ldap_close(dl);
	o.uris = "ldap://127.0.0.1:1 not-a-uri";
	CHECK(dir_ldap_open(&o) == NULL);
	o.uris = " , ";
	CHECK(dir_ldap_open(&o) == NULL);
	o = base_options;
	o.base = NULL;
	CHECK(dir_ldap_open(&o) == NULL);
	o = base_options;
	o.user_filter = NULL;
	CHECK(dir_ldap_open(&o) == NULL);
}

/* Port 1 on loopback refuses at once: every lookup is a temporary failure,
 * never "no such user", and fails fast during the back-off. */
static void
test_unreachable(void)
{
	struct dir_ldap *dl = dir_ldap_open(&base_options);
	struct user_record dummy, *u = &dummy;
	time_t t0 = time(NULL);

	CHECK(dir_ldap_lookup(dl, "alice", &u) == DIR_TEMPFAIL);
	CHECK(u == NULL);
	CHECK(dir_ldap_lookup(dl, "alice", &u) == DIR_TEMPFAIL);
	CHECK(dir_ldap_lookup_principal(dl, "alice@R", &u) == DIR_NOTFOUND);
	CHECK(time(NULL) - t0 <= 3);
	dir_ldap_close(dl);
}

/* An empty password never reaches the server: it would be an
 * unauthenticated bind, which some servers call a success. */
static void
test_empty_password(void)
{
	struct directory_ldap_options o = base_options;
	struct user_record u = { .name = (char *)"bob",
		.bind_dn = (char *)"uid=bob,dc=postern,dc=test" };
	struct dir_ldap *dl;
	bool ok = true;

	o.password_by_bind = true;
	dl = dir_ldap_open(&o);
	CHECK(dir_ldap_check_password(dl, &u, "", &ok) == DIR_OK);
	CHECK(!ok);
	/* A non-empty one does try, and the dead server makes it temporary. */
	ok = true;
	CHECK(dir_ldap_check_password(dl, &u, "secret", &ok) == DIR_TEMPFAIL);
	CHECK(!ok);
	dir_ldap_close(dl);
}

int
main(void)
{
	test_escape();
	test_escape_long();
	test_build();
	test_open();
	test_unreachable();
	test_empty_password();
	return check_done("test_ldap_filter");
}
