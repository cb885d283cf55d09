#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "daemon/msgsend.h"

#define READ_CHUNK 65536

struct msg_state {
	bool line_start;     /* next byte begins a line */
	bool in_body;        /* the header/body separator has been sent */
	char last;           /* last byte written on the current line */
	size_t line_len;     /* bytes of the current line, CR excluded */
	long body_left;      /* body lines still to send; < 0: all */
};

/* Ends a line read from the store; false once TOP has sent enough. */
static bool
line_done(struct msg_state *m)
{
	if (m->in_body) {
		if (m->body_left > 0)
			m->body_left--;
	} else if (m->line_len == 0)
		m->in_body = true;
	m->line_start = true;
	m->line_len = 0;
	m->last = '\n';
	return !(m->in_body && m->body_left == 0);
}

/* Sends buf[0..n); false when the line quota of TOP is reached. */
static bool
send_chunk(struct io *io, struct msg_state *m, const char *buf, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *lf;
		size_t seg;

		if (m->line_start && buf[i] == '.')
			io_write(io, ".", 1);
		m->line_start = false;
		lf = memchr(buf + i, '\n', n - i);
		seg = lf ? (size_t)(lf - (buf + i)) : n - i;
		if (seg > 0) {
			io_write(io, buf + i, seg);
			m->last = buf[i + seg - 1];
			m->line_len += seg - (m->last == '\r');
		}
		i += seg;
		if (lf == NULL)
			break;
		io_write(io, m->last == '\r' ? "\n" : "\r\n", m->last == '\r' ? 1 : 2);
		i++;
		if (!line_done(m))
			return false;
	}
	return true;
}

bool
message_send(struct io *io, int fd, long body_lines)
{
	static char buf[READ_CHUNK];
	struct msg_state m = {
		.line_start = true,
		.last = '\n',
		.body_left = body_lines,
	};
	bool ok = true;

	/* TOP n with n = 0 stops right after the separator. */
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ok = false;
		if (n <= 0 || !send_chunk(io, &m, buf, (size_t)n) || io->failed)
			break;
	}
	if (!ok)
		return false; /* no terminator: the client must see it cut */
	if (!m.line_start)
		io_write(io, "\r\n", 2);
	io_write(io, ".\r\n", 3);
	return ok;
}
