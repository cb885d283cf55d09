#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/xmalloc.h"
#include "daemon/io.h"

void
io_init(struct io *io, int fd, int timeout_ms)
{
	io->fd = fd;
	io->ssl = NULL;
	io->timeout_ms = timeout_ms;
	io->deadline_ms = 0;
	io->rpos = io->rlen = io->wlen = 0;
	io->failed = false;
	io->bytes_in = io->bytes_out = 0;
	io->wbuf = xmalloc(IO_WBUF_SIZE);
}

void
io_free(struct io *io)
{
	free(io->wbuf);
	io->wbuf = NULL;
}

void
io_set_ssl(struct io *io, SSL *ssl)
{
	io->ssl = ssl;
}

void
io_set_deadline(struct io *io, int ms)
{
	io->deadline_ms = ms > 0 ? clock_ms() + ms : 0;
}

void
io_socket_timeouts(struct io *io)
{
	struct timeval tv = {
		.tv_sec = io->timeout_ms / 1000,
		.tv_usec = (io->timeout_ms % 1000) * 1000,
	};

	setsockopt(io->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(io->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* The wait allowed now: the idle timeout, cut short by the deadline. */
static int
io_wait_ms(const struct io *io)
{
	int left;

	if (io->deadline_ms == 0)
		return io->timeout_ms;
	if ((left = clock_ms_left(io->deadline_ms)) == 0)
		return -1;
	return left < io->timeout_ms ? left : io->timeout_ms;
}

static bool
io_wait(struct io *io, short events)
{
	struct pollfd pfd = { .fd = io->fd, .events = events };
	int r, ms;

	do {
		if ((ms = io_wait_ms(io)) < 0)
			return false;
		r = poll(&pfd, 1, ms);
	} while (r < 0 && errno == EINTR);
	return r > 0;
}

/* Fills rbuf. Returns >0 bytes read, 0 on EOF, -1 on error, -2 on timeout. */
static ssize_t
io_fill(struct io *io)
{
	ssize_t n;

	if (io->rpos > 0) {
		memmove(io->rbuf, io->rbuf + io->rpos, io->rlen - io->rpos);
		io->rlen -= io->rpos;
		io->rpos = 0;
	}
	if (io_wait_ms(io) < 0 ||
	    (!(io->ssl && SSL_pending(io->ssl) > 0) && !io_wait(io, POLLIN)))
		return -2;
	if (io->ssl) {
		int r = SSL_read(io->ssl, io->rbuf + io->rlen,
		    (int)(sizeof(io->rbuf) - io->rlen));

		if (r <= 0) {
			int e = SSL_get_error(io->ssl, r);

			return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
		}
		n = r;
	} else {
		do
			n = read(io->fd, io->rbuf + io->rlen,
			    sizeof(io->rbuf) - io->rlen);
		while (n < 0 && errno == EINTR);
	}
	if (n > 0) {
		io->rlen += (size_t)n;
		io->bytes_in += (unsigned long long)n;
	}
	return n;
}

static enum io_status
io_fill_status(ssize_t n)
{
	if (n == 0)
		return IO_EOF;
	return n == -2 ? IO_TIMEOUT : IO_ERROR;
}

/* Skips input up to and including the next LF. */
static enum io_status
io_skip_line(struct io *io)
{
	for (;;) {
		char *lf = memchr(io->rbuf + io->rpos, '\n', io->rlen - io->rpos);
		ssize_t n;

		if (lf) {
			io->rpos = (size_t)(lf - io->rbuf) + 1;
			return IO_TOOLONG;
		}
		io->rpos = io->rlen = 0;
		if ((n = io_fill(io)) <= 0)
			return io_fill_status(n);
	}
}

enum io_status
io_read_line(struct io *io, char *buf, size_t max, size_t *len)
{
	size_t got = 0;

	for (;;) {
		char *start = io->rbuf + io->rpos;
		size_t avail = io->rlen - io->rpos;
		char *lf = memchr(start, '\n', avail);
		size_t take = lf ? (size_t)(lf - start) + 1 : avail;
		ssize_t n;

		if (got + take > max) {
			if (lf) {
				io->rpos += take;
				return IO_TOOLONG;
			}
			io->rpos = io->rlen = 0;
			return io_skip_line(io);
		}
		memcpy(buf + got, start, take);
		got += take;
		io->rpos += take;
		if (lf) {
			got--;
			if (got > 0 && buf[got - 1] == '\r')
				got--;
			buf[got] = '\0';
			*len = got;
			return IO_LINE;
		}
		if ((n = io_fill(io)) <= 0)
			return io_fill_status(n);
	}
}

bool
io_input_pending(struct io *io)
{
	return io->rpos < io->rlen || (io->ssl && SSL_pending(io->ssl) > 0);
}

size_t
io_discard_input(struct io *io)
{
	size_t n = io->rlen - io->rpos;

	io->rpos = io->rlen = 0;
	return n;
}

static bool
io_send(struct io *io, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n;

		if (io->ssl) {
			int chunk = len > IO_TLS_CHUNK ? IO_TLS_CHUNK : (int)len;
			int r = SSL_write(io->ssl, p, chunk);

			n = r > 0 ? r : -1;
		} else {
			n = write(io->fd, p, len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN && io_wait(io, POLLOUT))
				continue;
		}
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
		io->bytes_out += (unsigned long long)n;
	}
	return true;
}

bool
io_flush(struct io *io)
{
	if (io->failed)
		return false;
	if (io->wlen > 0 && !io_send(io, io->wbuf, io->wlen))
		io->failed = true;
	io->wlen = 0;
	return !io->failed;
}

void
io_write(struct io *io, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0 && !io->failed) {
		size_t room = IO_WBUF_SIZE - io->wlen;
		size_t n = len < room ? len : room;

		memcpy(io->wbuf + io->wlen, p, n);
		io->wlen += n;
		p += n;
		len -= n;
		if (io->wlen == IO_WBUF_SIZE)
			io_flush(io);
	}
}

char *
io_reserve(struct io *io, size_t len)
{
	if (io->failed || len > IO_WBUF_SIZE)
		return NULL;
	if (IO_WBUF_SIZE - io->wlen < len && !io_flush(io))
		return NULL;
	return io->wbuf + io->wlen;
}

void
io_commit(struct io *io, size_t len)
{
	io->wlen += len;
	if (io->wlen == IO_WBUF_SIZE)
		io_flush(io);
}

void
io_puts(struct io *io, const char *s)
{
	io_write(io, s, strlen(s));
}

void
io_printf(struct io *io, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	io_write(io, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}
