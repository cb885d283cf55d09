#ifndef POSTERN_MSGSEND_H
#define POSTERN_MSGSEND_H

#include <stdbool.h>

#include "daemon/io.h"

/* Streams a stored message as a POP3 multi-line body: bare LF becomes CRLF,
 * a line starting with '.' is byte-stuffed, a missing final line end is
 * added, and ".\r\n" terminates. body_lines < 0 sends everything; otherwise
 * the headers, the blank line and that many body lines (TOP).
 * False when reading the file failed (errno says why): the reply is then
 * cut short, which is all that can be done once "+OK" has gone out.
 * len is the file's length when known (else -1): reading stops there,
 * which spares the read() that would only say end of file. */
bool message_send(struct io *io, int fd, off_t len, long body_lines);

#endif
