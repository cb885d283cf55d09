#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/cmdline.h"

enum cmdline_status
cmdline_parse(char *line, size_t len, struct cmdline *out)
{
	size_t i;

	if (strlen(line) != len)
		return CMDLINE_NUL;
	if (len == 0)
		return CMDLINE_EMPTY;
	for (i = 0; line[i] && line[i] != ' '; i++) {
		unsigned char c = (unsigned char)line[i];

		if (!isascii(c) || !isalpha(c))
			return CMDLINE_BADCHAR;
		if (i >= sizeof(out->keyword) - 1)
			return CMDLINE_BADKEYWORD;
		out->keyword[i] = (char)toupper(c);
	}
	if (i == 0)
		return CMDLINE_BADKEYWORD;
	out->keyword[i] = '\0';
	out->args = line + i + (line[i] == ' ');
	return CMDLINE_OK;
}

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

bool
parse_msgnum(const char *s, size_t max, size_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || !all_digits(s) || strlen(s) > 19)
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v == 0 || v > max)
		return false;
	*out = (size_t)v;
	return true;
}

bool
parse_count(const char *s, long *out)
{
	long long v;
	char *end;

	if (s == NULL || !all_digits(s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE || v > LONG_MAX)
		v = LONG_MAX;
	*out = (long)v;
	return true;
}

char *
next_arg(char **args)
{
	char *start = *args, *sp;

	if (start == NULL || *start == '\0')
		return NULL;
	if ((sp = strchr(start, ' ')) != NULL) {
		*sp = '\0';
		*args = sp + 1;
	} else
		*args = start + strlen(start);
	return start;
}
