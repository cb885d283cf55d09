/* Unit tests for sasl/principal.c: Kerberos principal -> local user. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sasl/principal.h"
#include "tests/unit/check.h"

static const char realms[] = "EXAMPLE.ORG  CORP.EXAMPLE.ORG\tPOSTERN.TEST";

static const struct {
	const char *principal, *user;	/* user NULL: refused */
} cases[] = {
	{ "alice@EXAMPLE.ORG", "alice" },
	{ "alice@POSTERN.TEST", "alice" },
	{ "bob.smith@CORP.EXAMPLE.ORG", "bob.smith" },
	{ "alice@OTHER.ORG", NULL },		/* realm not listed */
	{ "alice@example.org", NULL },		/* realms are case-sensitive */
	{ "alice@EXAMPLE", NULL },		/* a prefix of a listed realm */
	{ "alice@EXAMPLE.ORGX", NULL },
	{ "alice@CORP", NULL },
	{ "alice/admin@EXAMPLE.ORG", NULL },	/* an instance */
	{ "pop/localhost@EXAMPLE.ORG", NULL },
	{ "alice\\/admin@EXAMPLE.ORG", NULL },	/* escaped separator */
	{ "alice\\@x@EXAMPLE.ORG", NULL },
	{ "alice@x@EXAMPLE.ORG", NULL },
	{ "alice", NULL },			/* no realm */
	{ "alice@", NULL },
	{ "@EXAMPLE.ORG", NULL },
	{ "", NULL },
	{ "al ice@EXAMPLE.ORG", NULL },
	{ "alice@EXAMPLE.ORG ", NULL },
	{ "ali\tce@EXAMPLE.ORG", NULL },
	{ "ali\x7f" "ce@EXAMPLE.ORG", NULL },
	{ "ali\x01" "ce@EXAMPLE.ORG", NULL },
};

static void
test_cases(void)
{
	char user[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok = principal_to_user(cases[i].principal, realms, user,
		    sizeof(user));

		if (cases[i].user != NULL) {
			CHECK(ok);
			CHECK_STR(user, cases[i].user);
		} else {
			if (ok)
				fprintf(stderr, "accepted: \"%s\"\n",
				    cases[i].principal);
			CHECK(!ok);
			CHECK_STR(user, "");
		}
	}
}

static void
test_realm_lists(void)
{
	char user[64];

	CHECK(!principal_to_user("alice@EXAMPLE.ORG", NULL, user,
	    sizeof(user)));
	CHECK(!principal_to_user("alice@EXAMPLE.ORG", "", user, sizeof(user)));
	CHECK(!principal_to_user("alice@EXAMPLE.ORG", "   ", user,
	    sizeof(user)));
	CHECK(principal_to_user("alice@EXAMPLE.ORG", "EXAMPLE.ORG", user,
	    sizeof(user)));
	CHECK(principal_to_user("alice@EXAMPLE.ORG", " EXAMPLE.ORG ", user,
	    sizeof(user)));
	CHECK(!principal_to_user(NULL, "EXAMPLE.ORG", user, sizeof(user)));
}

/* The name must fit with its NUL; nothing is truncated. */
static void
test_lengths(void)
{
	char user[6];

	CHECK(principal_to_user("abcde@EXAMPLE.ORG", realms, user,
	    sizeof(user)));
	CHECK_STR(user, "abcde");
	CHECK(!principal_to_user("abcdef@EXAMPLE.ORG", realms, user,
	    sizeof(user)));
	CHECK_STR(user, "");
	CHECK(!principal_to_user("a@EXAMPLE.ORG", realms, user, 0));
}

int
main(void)
{
	test_cases();
	test_realm_lists();
	test_lengths();
	return check_done("test_principal");
}
