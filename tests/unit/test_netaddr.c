/* Unit tests for common/netaddr.c: CIDR parsing and matching. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "common/netaddr.h"
#include "tests/unit/check.h"

/* Builds a sockaddr for "1.2.3.4" or "2001:db8::1"; port 110. */
static const struct sockaddr *
sa(const char *text)
{
	static struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(110);
	} else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(110);
	} else
		ss.ss_family = AF_UNIX;
	return (const struct sockaddr *)&ss;
}

static bool
match(const char *block, const char *addr)
{
	struct netblock nb;

	return netblock_parse(block, &nb) && netblock_match(&nb, sa(addr));
}

static void
test_parse(void)
{
	struct netblock nb;

	CHECK(netblock_parse("10.0.0.0/8", &nb));
	CHECK(nb.family == AF_INET && nb.prefix == 8 && nb.addr[0] == 10);
	CHECK(netblock_parse("192.0.2.1", &nb));
	CHECK(nb.family == AF_INET && nb.prefix == 32);
	CHECK(netblock_parse("2001:db8::/32", &nb));
	CHECK(nb.family == AF_INET6 && nb.prefix == 32);
	CHECK(netblock_parse("::1", &nb));
	CHECK(nb.family == AF_INET6 && nb.prefix == 128 && nb.addr[15] == 1);
	CHECK(netblock_parse("0.0.0.0/0", &nb) && nb.prefix == 0);
	CHECK(netblock_parse("::/0", &nb) && nb.prefix == 0);
	CHECK(netblock_parse("10.0.0.0/32", &nb) && nb.prefix == 32);
	CHECK(netblock_parse("::/128", &nb) && nb.prefix == 128);
}

static void
test_parse_bad(void)
{
	static const char *const bad[] = {
		"", "/", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129",
		"10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/8 ",
		" 10.0.0.0/8", "10.0.0.0/8/8", "10.0.0.0/8x", "10.0.0.0/0x8",
		"10.0.0/8", "256.0.0.0/8", "10.0.0.0.0", "example.com",
		"2001:db8::/", "2001:db8:::/32", "fe80::1%eth0", "[::1]",
		"*", "10.0.0.0/99999999999999999999",
		"1111111111111111111111111111111111111111111111111111111111111",
	};
	struct netblock nb;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool ok = netblock_parse(bad[i], &nb);

		CHECK(!ok);
		if (ok)
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
	}
}

static void
test_match_v4(void)
{
	CHECK(match("10.0.0.0/8", "10.1.2.3"));
	CHECK(!match("10.0.0.0/8", "11.0.0.0"));
	CHECK(match("192.168.4.0/22", "192.168.7.255"));
	CHECK(!match("192.168.4.0/22", "192.168.8.0"));
	CHECK(!match("192.168.4.0/22", "192.168.3.255"));
	CHECK(match("192.0.2.1", "192.0.2.1"));
	CHECK(!match("192.0.2.1", "192.0.2.2"));
	CHECK(match("192.0.2.1/31", "192.0.2.0"));
	CHECK(match("0.0.0.0/0", "203.0.113.9"));
	CHECK(!match("0.0.0.0/0", "2001:db8::1"));
	CHECK(!match("10.0.0.0/8", "::a00:1"));	/* IPv4-compatible, not mapped */
}

static void
test_match_v6(void)
{
	CHECK(match("2001:db8::/32", "2001:db8:ffff::1"));
	CHECK(!match("2001:db8::/32", "2001:db9::1"));
	CHECK(match("2001:db8::/33", "2001:db8:7fff::1"));
	CHECK(!match("2001:db8::/33", "2001:db8:8000::1"));
	CHECK(match("::1", "::1"));
	CHECK(!match("::1", "::2"));
	CHECK(match("::/0", "fe80::1"));
	CHECK(!match("::/0", "127.0.0.1"));
	CHECK(!match("2001:db8::/32", "32.1.13.184"));
}

/* A dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d. */
static void
test_match_mapped(void)
{
	CHECK(match("10.0.0.0/8", "::ffff:10.9.8.7"));
	CHECK(!match("10.0.0.0/8", "::ffff:11.9.8.7"));
	CHECK(match("127.0.0.1", "::ffff:127.0.0.1"));
	CHECK(match("0.0.0.0/0", "::ffff:1.2.3.4"));
	CHECK(match("::ffff:0:0/96", "::ffff:1.2.3.4"));
}

static void
test_match_other(void)
{
	struct netblock list[3];

	CHECK(!match("0.0.0.0/0", "not an address"));
	CHECK(!match("::/0", "not an address"));
	CHECK(netblock_parse("10.0.0.0/8", &list[0]));
	CHECK(netblock_parse("2001:db8::/32", &list[1]));
	CHECK(netblock_parse("192.0.2.7", &list[2]));
	CHECK(netblock_list_match(list, 3, sa("192.0.2.7")));
	CHECK(netblock_list_match(list, 3, sa("2001:db8::5")));
	CHECK(netblock_list_match(list, 3, sa("::ffff:10.0.0.1")));
	CHECK(!netblock_list_match(list, 3, sa("192.0.2.8")));
	CHECK(!netblock_list_match(list, 2, sa("192.0.2.7")));
	CHECK(!netblock_list_match(list, 0, sa("10.0.0.1")));
}

static void
test_format(void)
{
	char buf[INET6_ADDRSTRLEN];
	int port = -1;

	sockaddr_format(sa("192.0.2.1"), buf, sizeof(buf), &port);
	CHECK_STR(buf, "192.0.2.1");
	CHECK(port == 110);
	sockaddr_format(sa("2001:DB8:0::1"), buf, sizeof(buf), &port);
	CHECK_STR(buf, "2001:db8::1");
	CHECK(port == 110);
	sockaddr_format(sa("2001:db8::2"), buf, sizeof(buf), NULL);
	CHECK_STR(buf, "2001:db8::2");
	sockaddr_format(sa("junk"), buf, sizeof(buf), &port);
	CHECK_STR(buf, "unknown");
	CHECK(port == 0);
}

int
main(void)
{
	test_parse();
	test_parse_bad();
	test_match_v4();
	test_match_v6();
	test_match_mapped();
	test_match_other();
	test_format();
	return check_done("test_netaddr");
}
