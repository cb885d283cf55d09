#ifndef POSTERN_MAILDROP_H
#define POSTERN_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/resp.h"

/* A maildir maildrop opened for one POP3 session.
 *
 * Store rules (the store may be NFS shared by several hosts):
 * - the session lock is an fcntl write lock on <maildir>/postern.lock;
 * - postern.index (UIDL, CRLF size, file name) is rewritten by temp file,
 *   fsync and rename, and updated incrementally;
 * - postern.uidls, when an administrator imported one (daemon/uidlmap.h),
 *   gives the UIDLs of the messages the index does not know;
 * - deletes happen only in maildrop_commit(); ENOENT there is not an error;
 * - ESTALE/EIO become RC_SYS_TEMP, and so do a read-only store (EROFS)
 *   and a full one (ENOSPC, EDQUOT): the administrator fixes them and the
 *   client retries. A read-only store fails the login; a full one does
 *   not (the index, a cache, may go unsaved and new mail wait in new/:
 *   see maildrop.c). */

struct message {
	char *uidl;      /* 1-70 chars of 0x21-0x7E, stable for its life */
	char *name;      /* file name under cur/ */
	off_t size;      /* octets as sent: CRLF line ends, before stuffing */
	ino_t ino;       /* as readdir reported it: tells a replaced file */
	bool deleted;    /* marked by DELE, undone by RSET */
};

struct maildrop {
	char *path;
	int dir_fd;              /* the maildrop directory (index lives here) */
	int lock_fd;
	int cur_fd;              /* open directory fd of cur/ */
	struct message *msgs;
	size_t count;
	size_t live_count;       /* not marked deleted */
	off_t live_size;
};

/* Opens and locks path, creating the maildir (0700) if it does not exist,
 * moves new/ to cur/ and lists cur/ in delivery order. On failure returns
 * NULL, *rc says why (RC_IN_USE when another session holds it, RC_SYS_TEMP
 * for ESTALE/EIO, a read-only or full store and other transient faults,
 * RC_SYS_PERM for what needs an administrator) and err a reason for the
 * log. Nothing is held after a failure: no descriptor, no lock.
 * The lock is a POSIX record lock, so it is per process: one process must
 * not open the same maildrop twice (closing either would drop the lock). */
struct maildrop *maildrop_open(const char *path, enum resp_code *rc,
    char *err, size_t errlen);
/* Opens message i (0-based) for reading, O_RDONLY|O_CLOEXEC. Its size is
 * msgs[i].size: the file's octets, plus one CR for every LF not preceded by
 * CR, plus the CRLF the sender (msgsend.c) adds after a last line without
 * LF; an empty file is 0.
 * On failure returns -1 and *rc:
 *   RC_NONE      the message no longer exists (removed behind our back):
 *                answer "-ERR message no longer exists";
 *   RC_SYS_TEMP  ESTALE, EIO or another transient fault;
 *   RC_SYS_PERM  the file is no longer a regular file. */
int maildrop_open_message(struct maildrop *md, size_t i, off_t *len,
    enum resp_code *rc);
void maildrop_mark_deleted(struct maildrop *md, size_t i);
void maildrop_reset(struct maildrop *md);
/* UPDATE state: removes marked messages (one already gone is not an
 * error) and updates the index. Returns how many could not be removed, or
 * whose removal could not be made durable (0 is success); then *rc is
 * RC_SYS_TEMP (a read-only store, EIO, ESTALE...). Removed messages leave
 * msgs; the others keep their marks. An index that cannot be saved (a
 * full store) is not a failure: the removals are durable once cur/ is
 * synced, and the next open drops the stale records. */
size_t maildrop_commit(struct maildrop *md, enum resp_code *rc);
/* Takes the session lock of the maildrop directory dir_fd for a process
 * that changes it without opening it (postern uidl import): the lock fd,
 * or -EAGAIN when a session holds it, or another -errno. */
int maildrop_lock(int dir_fd);
/* Releases the lock and frees; deletes nothing. */
void maildrop_close(struct maildrop *md);

#endif
