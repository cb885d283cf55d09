#ifndef POSTERN_IO_H
#define POSTERN_IO_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* Buffered line I/O over a socket, in the clear or through TLS.
 * Replies accumulate in the write buffer and go out when the session has
 * no more input to process, so a PIPELINING batch is answered in one
 * flush (RFC 2449 §6.6). */

#define IO_RBUF_SIZE 16384
#define IO_WBUF_SIZE 131072
/* One TLS record carries at most 16 KiB: writing in such pieces keeps
 * RETR over TLS at full records. */
#define IO_TLS_CHUNK 16384

enum io_status {
	IO_LINE,     /* a line, without CRLF */
	IO_TOOLONG,  /* longer than allowed: consumed through its LF, discarded */
	IO_EOF,
	IO_TIMEOUT,
	IO_ERROR,
};

struct io {
	int fd;
	SSL *ssl;
	int timeout_ms;
	long long deadline_ms; /* CLOCK_MONOTONIC; 0: none */
	char rbuf[IO_RBUF_SIZE];
	size_t rpos, rlen;
	char *wbuf;
	size_t wlen;
	bool failed;      /* a write failed: stop producing output */
	unsigned long long bytes_in, bytes_out;
};

void io_init(struct io *io, int fd, int timeout_ms);
void io_free(struct io *io);
void io_set_ssl(struct io *io, SSL *ssl);
/* Every wait ends by ms from now at the latest, however active the
 * client (login_timeout before login); 0 clears the deadline. */
void io_set_deadline(struct io *io, int ms);
/* Gives the socket's own send and receive timeouts the value of
 * timeout_ms, so that a blocked write (a client that never reads) ends
 * too. */
void io_socket_timeouts(struct io *io);
/* Reads one line into buf, which holds max + 1 bytes (NUL-terminated; *len
 * excludes it so that embedded NULs can be detected). max counts the CRLF,
 * as RFC 2449 does. */
enum io_status io_read_line(struct io *io, char *buf, size_t max, size_t *len);
/* Unread input that would answer a read without waiting. */
bool io_input_pending(struct io *io);
/* Drops buffered input: used after STLS, where bytes sent before the
 * handshake must not be taken as commands inside TLS. Returns how many. */
size_t io_discard_input(struct io *io);
void io_write(struct io *io, const void *data, size_t len);
/* Room for len bytes at the end of the write buffer, flushing first if
 * needed; NULL when len exceeds the buffer or output has failed. The
 * caller fills some of it and says how much with io_commit. */
char *io_reserve(struct io *io, size_t len);
void io_commit(struct io *io, size_t len);
void io_puts(struct io *io, const char *s);
void io_printf(struct io *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sends everything buffered; false when the peer is gone. */
bool io_flush(struct io *io);

#endif
