#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "daemon/msgsend.h"
#include "daemon/wireform.h"

#define READ_CHUNK 65536
/* Input converted per reservation: its wire form (at most twice as big)
 * always fits the write buffer, which then goes out in large writes. */
#define CONVERT_PIECE 16384

struct msg_state {
	struct wireform wf;
	bool in_body;        /* the header/body separator has been sent */
	size_t line_len;     /* bytes of the current line, CR excluded */
	long body_left;      /* body lines still to send; < 0: all */
};

/* Sends buf[0..n) in wire form. */
static void
send_wire(struct io *io, struct wireform *wf, const char *buf, size_t n)
{
	while (n > 0 && !io->failed) {
		size_t piece = n < CONVERT_PIECE ? n : CONVERT_PIECE;
		char *out = io_reserve(io, WIREFORM_ROOM(piece));

		if (out == NULL)
			return;
		io_commit(io, wireform_copy(wf, out, buf, piece));
		buf += piece;
		n -= piece;
	}
}

/* Ends a line of TOP's output; false once enough body lines are out. */
static bool
line_done(struct msg_state *m)
{
	if (m->in_body) {
		if (m->body_left > 0)
			m->body_left--;
	} else if (m->line_len == 0)
		m->in_body = true;
	m->line_len = 0;
	return !(m->in_body && m->body_left == 0);
}

/* TOP: line by line, counting; false when the quota is reached. */
static bool
send_counted(struct io *io, struct msg_state *m, const char *buf, size_t n)
{
	const char *p = buf, *end = buf + n;

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t seg = (size_t)((lf != NULL ? lf : end) - p);

		send_wire(io, &m->wf, p, seg + (lf != NULL));
		if (seg > 0)
			m->line_len += seg - (p[seg - 1] == '\r');
		if (lf == NULL)
			break;
		p = lf + 1;
		if (!line_done(m))
			return false;
	}
	return true;
}

/* Sends buf[0..n); false when the line quota of TOP is reached. */
static bool
send_chunk(struct io *io, struct msg_state *m, const char *buf, size_t n)
{
	if (m->body_left < 0) {
		send_wire(io, &m->wf, buf, n);
		return true;
	}
	return send_counted(io, m, buf, n);
}

bool
message_send(struct io *io, int fd, off_t len, long body_lines)
{
	static char buf[READ_CHUNK];
	struct msg_state m = {
		.wf = WIREFORM_INIT,
		.body_left = body_lines,
	};
	bool ok = true;
	off_t done = 0;

	/* TOP n with n = 0 stops right after the separator. */
	while (len < 0 || done < len) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ok = false;
		if (n <= 0 || !send_chunk(io, &m, buf, (size_t)n) || io->failed)
			break;
		done += n;
	}
	if (!ok)
		return false; /* no terminator: the client must see it cut */
	if (!m.wf.line_start)
		io_write(io, "\r\n", 2);
	io_write(io, ".\r\n", 3);
	return ok;
}
