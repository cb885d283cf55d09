#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/netaddr.h"

bool
netblock_parse(const char *text, struct netblock *out)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	int maxbits;

	if (snprintf(buf, sizeof(buf), "%s", text) >= (int)sizeof(buf))
		return false;
	memset(out, 0, sizeof(*out));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		maxbits = 128;
	} else
		return false;
	out->prefix = maxbits;
	if (slash) {
		long v;

		/* strtol alone would take " 8", "+8" and "-0". */
		if (*slash == '\0' || strspn(slash, "0123456789") != strlen(slash))
			return false;
		v = strtol(slash, &end, 10);
		if (*end != '\0' || v > maxbits)
			return false;
		out->prefix = (int)v;
	}
	return true;
}

static bool
prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)whole) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

bool
netblock_match(const struct netblock *nb, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return nb->family == AF_INET &&
		    prefix_equal(nb->addr, (const unsigned char *)&in->sin_addr,
		        nb->prefix);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const unsigned char *a = in6->sin6_addr.s6_addr;

		if (nb->family == AF_INET6)
			return prefix_equal(nb->addr, a, nb->prefix);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return prefix_equal(nb->addr, a + 12, nb->prefix);
	}
	return false;
}

bool
netblock_list_match(const struct netblock *list, int n,
    const struct sockaddr *sa)
{
	for (int i = 0; i < n; i++)
		if (netblock_match(&list[i], sa))
			return true;
	return false;
}

void
sockaddr_format(const struct sockaddr *sa, char *buf, size_t len, int *port)
{
	if (port)
		*port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)len);
		if (port)
			*port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)len);
		if (port)
			*port = ntohs(in6->sin6_port);
	} else
		snprintf(buf, len, "unknown");
}
