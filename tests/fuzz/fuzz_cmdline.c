#include "config.h"

/* libFuzzer target: the POP3 command line parser (daemon/cmdline.c) on
 * any line a client can send, then the argument helpers the command
 * handlers use, with the properties their callers rely on. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/cmdline.h"
#include "tests/fuzz/fuzz.h"


static void
check_keyword(const struct cmdline *cl)
{
	size_t n = strlen(cl->keyword);

	if (n == 0 || n >= sizeof(cl->keyword))
		abort();
	for (size_t i = 0; i < n; i++)
		if (cl->keyword[i] < 'A' || cl->keyword[i] > 'Z')
			abort();
}

/* What cmd_trans.c trusts: a number accepted is 1..max, a count >= 0. */
static void
check_number(const char *arg)
{
	static const size_t maxes[] = { 0, 1, 10, 65535, SIZE_MAX };
	size_t n;
	long c;

	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++)
		if (parse_msgnum(arg, maxes[i], &n) && (n == 0 || n > maxes[i]))
			abort();
	if (parse_count(arg, &c) && c < 0)
		abort();
}

static void
check_args(char *line, size_t len, char *args)
{
	char *end = line + len, *arg;

	if (args < line || args > end)
		abort();
	while ((arg = next_arg(&args)) != NULL) {
		if (arg < line || arg >= end || args > end ||
		    strchr(arg, ' ') != NULL)
			abort();
		check_number(arg);
	}
	if (*args != '\0' || next_arg(&args) != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	struct cmdline cl;
	enum cmdline_status st;

	memcpy(line, data, size);
	line[size] = '\0';
	st = cmdline_parse(line, size, &cl);
	if ((st == CMDLINE_NUL) != (memchr(data, '\0', size) != NULL))
		abort();
	if (st == CMDLINE_OK) {
		check_keyword(&cl);
		check_args(line, size, cl.args);
	}
	free(line);
	return 0;
}
