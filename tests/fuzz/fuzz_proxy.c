#include "config.h"

/* libFuzzer target: the PROXY protocol v1/v2 header parser
 * (daemon/proxy.c). Besides not crashing, a header it accepts must parse
 * the same on its own, and every shorter prefix of it must be "read more"
 * (what a reader feeding it byte by byte relies on). */

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/proxy.h"
#include "tests/fuzz/fuzz.h"


/* Parses an exact-size heap copy, so ASan sees any read past len. */
static enum proxy_status
parse_copy(const uint8_t *data, size_t len, size_t *used,
    struct proxy_addrs *out)
{
	unsigned char *buf = malloc(len ? len : 1);
	enum proxy_status st;

	memcpy(buf, data, len);
	st = proxy_parse(buf, len, used, out);
	free(buf);
	return st;
}

static void
check_addrs(const struct proxy_addrs *a)
{
	if (a->local)
		return;
	if (a->src.ss_family != AF_INET && a->src.ss_family != AF_INET6)
		abort();
	if (a->dst.ss_family != a->src.ss_family)
		abort();
}

static void
check_prefix(const uint8_t *data, size_t len)
{
	struct proxy_addrs a;
	size_t used;

	if (parse_copy(data, len, &used, &a) != PROXY_NEED_MORE)
		abort();
}

static void
check_accepted(const uint8_t *data, size_t used,
    const struct proxy_addrs *first)
{
	struct proxy_addrs again;
	size_t used2;

	check_addrs(first);
	if (parse_copy(data, used, &used2, &again) != PROXY_OK ||
	    used2 != used || memcmp(&again, first, sizeof(again)) != 0)
		abort();
	check_prefix(data, 0);
	check_prefix(data, 1);
	check_prefix(data, used / 2);
	check_prefix(data, used - 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_addrs a;
	size_t used = 0;

	switch (proxy_parse(data, size, &used, &a)) {
	case PROXY_OK:
		if (used == 0 || used > size)
			abort();
		if (size > 0 && data[0] == 'P' && used > PROXY_V1_MAX)
			abort();
		check_accepted(data, used, &a);
		break;
	case PROXY_NEED_MORE:
		if (size >= PROXY_V2_MAX)
			abort();
		break;
	case PROXY_BAD:
		break;
	}
	return 0;
}
