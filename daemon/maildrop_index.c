/* postern.index: loading, lookup and atomic rewrite of the maildrop's
 * cache of message sizes and UIDLs. The format is in maildrop_index.h. */

#include "config.h"

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "daemon/maildrop_index.h"

/* Version 2: sizes count the CRLF added after a last line without LF. */
#define MDX_MAGIC	"postern-index 2 "
/* Far above any real index (about 100 bytes a message); a bigger file is
 * not ours to trust with memory. */
#define MDX_MAX_SIZE	((off_t)256 << 20)
#define MDX_MIN_RECORD	7	/* "b\t1\t0\t\n" */

int
md_seterr(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (errlen == 0)
		return e;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	n = strlen(err);
	if (e != 0 && n < errlen)
		snprintf(err + n, errlen - n, ": %s", strerror(e));
	return e;
}

bool
uidl_valid(const char *s, size_t len)
{
	if (len < 1 || len > 70)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

bool
mdx_indexable(const char *name)
{
	return name[0] != '\0' && strpbrk(name, "\t\n") == NULL;
}

uint64_t
md_stamp(const char *s)
{
	uint64_t n = 0;

	for (; *s >= '0' && *s <= '9'; s++)
		n = n > (UINT64_MAX - 9) / 10 ? UINT64_MAX :
		    n * 10 + (uint64_t)(*s - '0');
	return n;
}

int
md_key_cmp(uint64_t sa, const char *a, size_t alen, uint64_t sb,
    const char *b, size_t blen)
{
	int c;

	if (sa != sb)
		return sa < sb ? -1 : 1;
	if ((c = memcmp(a, b, alen < blen ? alen : blen)) != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

int
md_read_text(int dir_fd, const char *name, off_t max, char **textp,
    size_t *lenp)
{
	struct stat st;
	ssize_t r;
	size_t len = 0;
	char *text;
	int fd, e = 0;

	*textp = NULL;
	*lenp = 0;
	if ((fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC |
	    O_NONBLOCK)) == -1)
		return errno;
	if (fstat(fd, &st) == -1)
		e = errno;
	else if (!S_ISREG(st.st_mode) || st.st_size > max)
		e = EFBIG;
	text = xmalloc(e ? 1 : (size_t)st.st_size + 1);
	while (e == 0 && len < (size_t)st.st_size) {
		if ((r = read(fd, text + len, (size_t)st.st_size - len)) > 0)
			len += (size_t)r;
		else if (r == 0)
			break;		/* shrank: the caller's checks will see */
		else if (errno != EINTR)
			e = errno;
	}
	close(fd);
	text[len] = '\0';
	*textp = text;
	*lenp = len;
	return e;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t n = 0;

	if (*s == '\0')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*out = n;
	return *s == '\0' ? 0 : -1;
}

/* Cuts one line "base TAB ino TAB size TAB [uidl]" into e. */
static int
parse_record(char *line, struct mdx_entry *e)
{
	char *f[4];
	uint64_t ino, size;

	f[0] = line;
	for (int i = 1; i < 4; i++) {
		if ((line = strchr(line, '\t')) == NULL)
			return -1;
		*line++ = '\0';
		f[i] = line;
	}
	e->baselen = strlen(f[0]);
	if (parse_u64(f[1], &ino) != 0 || (ino_t)ino != ino ||
	    parse_u64(f[2], &size) != 0 || size > INT64_MAX ||
	    e->baselen == 0 || strchr(f[0], ':') != NULL ||
	    (f[3][0] == '\0' ? !uidl_valid(f[0], e->baselen) :
	    !uidl_valid(f[3], strlen(f[3]))))
		return -1;
	e->base = f[0];
	e->stamp = md_stamp(f[0]);
	e->ino = (ino_t)ino;
	e->size = (off_t)size;
	e->uidl = f[3][0] == '\0' ? NULL : f[3];
	return 0;
}

static bool
in_order(const struct mdx_entry *a, const struct mdx_entry *b)
{
	return md_key_cmp(a->stamp, a->base, a->baselen, b->stamp, b->base,
	    b->baselen) <= 0;
}

/* Parses x->text in place; returns why it is unusable, or NULL. */
static const char *
parse_text(struct mdx *x, size_t len)
{
	char *p = x->text, *end = p + len, *nl;
	uint64_t count;

	if (len == 0 || end[-1] != '\n')
		return "truncated";
	if (memchr(p, '\0', len) != NULL)
		return "NUL byte";
	if (strncmp(p, MDX_MAGIC, strlen(MDX_MAGIC)) != 0)
		return "unknown format or version";
	nl = strchr(p, '\n');
	*nl = '\0';
	if (parse_u64(p + strlen(MDX_MAGIC), &count) != 0 ||
	    count > len / MDX_MIN_RECORD)
		return "bad header";
	x->ents = xcalloc(count, sizeof(*x->ents));
	for (p = nl + 1; p < end; p = nl + 1, x->count++) {
		nl = strchr(p, '\n');
		*nl = '\0';
		if (x->count == count || parse_record(p, &x->ents[x->count]))
			return "bad record";
		if (x->count > 0 && !in_order(&x->ents[x->count - 1],
		    &x->ents[x->count]))
			return "out of order";
	}
	return x->count == count ? NULL : "truncated";
}

int
mdx_load(struct mdx *x, int dir_fd, const char *path, char *err,
    size_t errlen)
{
	const char *why = NULL;
	size_t len = 0;
	int e;

	memset(x, 0, sizeof(*x));
	e = md_read_text(dir_fd, MDX_FILE, MDX_MAX_SIZE, &x->text, &len);
	if (e == 0 && (why = parse_text(x, len)) == NULL)
		return 0;
	if (md_store_fault(e)) {
		mdx_free(x);
		return md_seterr(err, errlen, e, "read %s", MDX_FILE);
	}
	if (e != ENOENT)
		log_warn("maildrop %s: %s ignored, rebuilding: %s", path,
		    MDX_FILE, e ? strerror(e) : why);
	mdx_free(x);
	return 0;
}

struct mdx_entry *
mdx_match(struct mdx *x, uint64_t stamp, const char *base, size_t baselen,
    ino_t ino)
{
	struct mdx_entry *e;
	int c = -1;

	for (; x->next < x->count; x->next++) {
		e = &x->ents[x->next];
		if ((c = md_key_cmp(e->stamp, e->base, e->baselen, stamp, base,
		    baselen)) >= 0)
			break;
	}
	/* Equal keys (one base name, several files) are side by side. */
	for (size_t i = x->next; c == 0 && i < x->count; i++) {
		e = &x->ents[i];
		if (md_key_cmp(e->stamp, e->base, e->baselen, stamp, base,
		    baselen) != 0)
			break;
		if (!e->used && e->ino == ino) {
			e->used = true;
			x->used++;
			return e;
		}
	}
	return NULL;
}

void
mdx_free(struct mdx *x)
{
	free(x->text);
	free(x->ents);
	memset(x, 0, sizeof(*x));
}

/* Unique to this host and process, so that hosts sharing the store over
 * NFS never write the same temp file. */
static void
temp_name(char *buf, size_t len)
{
	char host[65];

	if (gethostname(host, sizeof(host)) == -1)
		strcpy(host, "unknown");
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p; p++)
		if (*p == '/' || (unsigned char)*p < 0x21)
			*p = '_';
	snprintf(buf, len, "%s.tmp.%s.%ld", MDX_FILE, host, (long)getpid());
}

static void
write_record(FILE *fp, const struct message *m)
{
	size_t len = md_baselen(m->name);
	bool same = strncmp(m->uidl, m->name, len) == 0 && m->uidl[len] == '\0';

	fprintf(fp, "%.*s\t%ju\t%jd\t%s\n", (int)len, m->name,
	    (uintmax_t)m->ino, (intmax_t)m->size, same ? "" : m->uidl);
}

static int
write_records(FILE *fp, const struct message *msgs, size_t n)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++)
		count += mdx_indexable(msgs[i].name);
	fprintf(fp, "%s%zu\n", MDX_MAGIC, count);
	for (size_t i = 0; i < n; i++)
		if (mdx_indexable(msgs[i].name))
			write_record(fp, &msgs[i]);
	if (fflush(fp) == EOF || ferror(fp))
		return errno != 0 ? errno : EIO;
	return 0;
}

/* Writes and syncs the temp file; it is removed on failure. */
static int
write_temp(int dir_fd, const char *tmp, const struct message *msgs,
    size_t n)
{
	FILE *fp;
	int fd, e;

	if ((fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		return errno;
	if ((fp = fdopen(fd, "w")) == NULL) {
		e = errno;
		close(fd);
	} else {
		setvbuf(fp, NULL, _IOFBF, 65536);
		e = write_records(fp, msgs, n);
		if (e == 0 && fsync(fd) == -1)
			e = errno;
		if (fclose(fp) == EOF && e == 0)
			e = errno;
	}
	if (e != 0)
		unlinkat(dir_fd, tmp, 0);
	return e;
}

/* Removes temp files a writer killed mid-write left behind (on any host).
 * The caller holds the session lock, and only its holder writes the
 * index, so no such file can be in use. */
static void
sweep_temps(int dir_fd, const char *mine)
{
	const char *prefix = MDX_FILE ".tmp.";
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    strcmp(de->d_name, mine) != 0 &&
		    unlinkat(dir_fd, de->d_name, 0) == 0)
			log_info("removed %s, left by an interrupted writer",
			    de->d_name);
	closedir(d);
}

int
mdx_write(int dir_fd, const struct message *msgs, size_t n, char *err,
    size_t errlen)
{
	char tmp[128];
	int e;

	temp_name(tmp, sizeof(tmp));
	if ((e = write_temp(dir_fd, tmp, msgs, n)) != 0)
		return md_seterr(err, errlen, e, "write %s", tmp);
	if (renameat(dir_fd, tmp, dir_fd, MDX_FILE) == -1) {
		e = errno;
		unlinkat(dir_fd, tmp, 0);
		return md_seterr(err, errlen, e, "rename %s", tmp);
	}
	/* The rename is durable only once the directory is; some file
	 * systems cannot sync a directory (EINVAL) and need not. */
	if (fsync(dir_fd) == -1 && errno != EINVAL)
		return md_seterr(err, errlen, errno, "fsync maildrop");
	sweep_temps(dir_fd, tmp);
	return 0;
}
