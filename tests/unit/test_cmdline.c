/* Unit tests: command-line parsing, the command table, and the message
 * streamer (CRLF, byte-stuffing, TOP) through a real socketpair. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/cmdline.h"
#include "daemon/commands.h"
#include "daemon/io.h"
#include "daemon/msgsend.h"
#include "tests/unit/check.h"

static void
test_parse(void)
{
	struct cmdline cl;
	char a[] = "retr 12", b[] = "uSeR alice smith", c[] = "NOOP";
	char d[] = "ST\001T", e[] = "", f[] = " LIST", g[] = "TOOLONGKEYWORD";
	char h[] = "LI\0ST";

	CHECK(cmdline_parse(a, strlen(a), &cl) == CMDLINE_OK);
	CHECK_STR(cl.keyword, "RETR");
	CHECK_STR(cl.args, "12");
	CHECK(cmdline_parse(b, strlen(b), &cl) == CMDLINE_OK);
	CHECK_STR(cl.keyword, "USER");
	CHECK_STR(cl.args, "alice smith");
	CHECK(cmdline_parse(c, strlen(c), &cl) == CMDLINE_OK);
	CHECK_STR(cl.args, "");
	CHECK(cmdline_parse(d, strlen(d), &cl) == CMDLINE_BADCHAR);
	CHECK(cmdline_parse(e, 0, &cl) == CMDLINE_EMPTY);
	CHECK(cmdline_parse(f, strlen(f), &cl) == CMDLINE_BADKEYWORD);
	CHECK(cmdline_parse(g, strlen(g), &cl) == CMDLINE_BADKEYWORD);
	CHECK(cmdline_parse(h, 5, &cl) == CMDLINE_NUL);
}

static void
test_numbers(void)
{
	size_t n;
	long l;

	CHECK(parse_msgnum("1", 5, &n) && n == 1);
	CHECK(parse_msgnum("5", 5, &n) && n == 5);
	CHECK(!parse_msgnum("6", 5, &n));
	CHECK(!parse_msgnum("0", 5, &n));
	CHECK(!parse_msgnum("-1", 5, &n));
	CHECK(!parse_msgnum("+1", 5, &n));
	CHECK(!parse_msgnum(" 1", 5, &n));
	CHECK(!parse_msgnum("1a", 5, &n));
	CHECK(!parse_msgnum("", 5, &n));
	CHECK(!parse_msgnum(NULL, 5, &n));
	CHECK(!parse_msgnum("99999999999999999999999", 5, &n));
	CHECK(parse_count("0", &l) && l == 0);
	CHECK(parse_count("99999999999999999999999", &l) && l > 0);
	CHECK(!parse_count("-3", &l));
	CHECK(!parse_count("x", &l));
}

static void
test_next_arg(void)
{
	char buf[] = "a bb ccc", *p = buf;

	CHECK_STR(next_arg(&p), "a");
	CHECK_STR(next_arg(&p), "bb");
	CHECK_STR(next_arg(&p), "ccc");
	CHECK(next_arg(&p) == NULL);
}

static void
test_table(void)
{
	const struct command *c;

	CHECK((c = command_find("RETR")) && c->states == POP_TRANSACTION);
	CHECK((c = command_find("capa")) &&
	    c->states == (POP_AUTHORIZATION | POP_TRANSACTION));
	CHECK((c = command_find("Stls")) && c->states == POP_AUTHORIZATION);
	CHECK(command_find("APOP") == NULL);
	CHECK(command_find("XYZ") == NULL);
}

/* Streams text through message_send and returns what the peer reads. */
static char *
stream(const char *text, long lines)
{
	int sv[2], fds[2];
	struct io io;
	static char out[8192];
	size_t got = 0;
	ssize_t n;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || pipe(fds) < 0)
		abort();
	if (write(fds[1], text, strlen(text)) < 0)
		abort();
	close(fds[1]);
	io_init(&io, sv[0], 1000);
	CHECK(message_send(&io, fds[0], -1, lines));
	CHECK(io_flush(&io));
	io_free(&io);
	close(sv[0]);
	close(fds[0]);
	while ((n = read(sv[1], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(sv[1]);
	return out;
}

static void
test_stream(void)
{
	CHECK_STR(stream("A: b\n\nbody\n", -1), "A: b\r\n\r\nbody\r\n.\r\n");
	CHECK_STR(stream("A: b\r\n\r\n.dot\r\n..two\n", -1),
	    "A: b\r\n\r\n..dot\r\n...two\r\n.\r\n");
	CHECK_STR(stream("no newline", -1), "no newline\r\n.\r\n");
	CHECK_STR(stream("", -1), ".\r\n");
	CHECK_STR(stream(".\n", -1), "..\r\n.\r\n");
	CHECK_STR(stream("H: 1\nH: 2\n\nl1\nl2\nl3\n", 0), "H: 1\r\nH: 2\r\n\r\n.\r\n");
	CHECK_STR(stream("H: 1\n\nl1\n.l2\nl3\n", 2), "H: 1\r\n\r\nl1\r\n..l2\r\n.\r\n");
	CHECK_STR(stream("H: 1\n\nl1\n", 10), "H: 1\r\n\r\nl1\r\n.\r\n");
	CHECK_STR(stream("H: 1\n", 3), "H: 1\r\n.\r\n");
}

int
main(void)
{
	test_parse();
	test_numbers();
	test_next_arg();
	test_table();
	test_stream();
	return check_done("test_cmdline");
}
