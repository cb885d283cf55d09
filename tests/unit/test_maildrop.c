/* Maildrop: CRLF sizes, UIDLs, new/ to cur/, the fcntl lock, UPDATE
 * deletes, and the index, against maildirs in a temp directory. */

#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/maildrop.h"
#include "tests/unit/check.h"

static char top[128];

/* Stops a test whose later checks would index past the messages. */
#define CHECK_COUNT(m, n) do { \
	CHECK((m)->count == (n)); \
	if ((m)->count != (n)) { \
		maildrop_close(m); \
		return; \
	} \
} while (0)

/* A path under the temp dir; the last few stay valid. */
static char *
mdpath(const char *name)
{
	static char buf[8][256];
	static unsigned int next;
	char *p = buf[next++ % 8];

	snprintf(p, sizeof(buf[0]), "%s/%s", top, name);
	return p;
}

static void
put(const char *md, const char *sub, const char *name, const char *data,
    size_t len)
{
	char path[1024];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s/%s", md, sub, name);
	if ((fp = fopen(path, "w")) == NULL) {
		perror(path);
		exit(2);
	}
	fwrite(data, 1, len, fp);
	fclose(fp);
}

static void
puts_msg(const char *md, const char *sub, const char *name, const char *s)
{
	put(md, sub, name, s, strlen(s));
}

static bool
exists(const char *md, const char *sub, const char *name)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s/%s", md, sub, name);
	return access(path, F_OK) == 0;
}

static void
mkmaildir(const char *md)
{
	char path[1024];

	mkdir(md, 0700);
	snprintf(path, sizeof(path), "%s/new", md);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/cur", md);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/tmp", md);
	mkdir(path, 0700);
}

static struct maildrop *
open_md(const char *md)
{
	struct maildrop *m;
	enum resp_code rc = RC_AUTH;
	char err[256];

	m = maildrop_open(md, &rc, err, sizeof(err));
	CHECK(m != NULL);
	CHECK(rc == RC_NONE);
	if (m == NULL) {
		fprintf(stderr, "maildrop_open %s: %s\n", md, err);
		exit(1);
	}
	return m;
}

static const struct message *
by_prefix(const struct maildrop *m, const char *prefix)
{
	for (size_t i = 0; i < m->count; i++)
		if (strncmp(m->msgs[i].name, prefix, strlen(prefix)) == 0)
			return &m->msgs[i];
	return NULL;
}

static off_t
size_of(const struct maildrop *m, const char *prefix)
{
	const struct message *msg = by_prefix(m, prefix);

	return msg ? msg->size : -1;
}

static bool
uidl_ok(const char *u)
{
	size_t n = strlen(u);

	if (n < 1 || n > 70)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] < 0x21 || (unsigned char)u[i] > 0x7e)
			return false;
	return true;
}

static void
write_index(const char *md, const char *text)
{
	put(md, ".", "postern.index", text, strlen(text));
}

static char *
read_index(const char *md)
{
	static char buf[1 << 16];
	char path[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/postern.index", md);
	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY)) == -1)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* A message whose CR sits at the end of one 64 KiB read and LF at the
 * start of the next, then a bare LF opening the third read. */
static void
put_boundary(const char *md, const char *name)
{
	size_t len = 131073;
	char *b = malloc(len);

	memset(b, 'x', 65535);
	b[65535] = '\r';
	b[65536] = '\n';
	memset(b + 65537, 'y', 131072 - 65537);
	b[131072] = '\n';
	put(md, "new", name, b, len);
	free(b);
}

static void
test_sizes(void)
{
	char md[256];
	struct maildrop *m;

	snprintf(md, sizeof(md), "%s/sizes", top);
	mkmaildir(md);
	puts_msg(md, "new", "1000.lf", "a\nb\n");
	puts_msg(md, "new", "1001.crlf", "a\r\nb\r\n");
	puts_msg(md, "new", "1002.mixed", "a\r\nb\nc\r\n");
	puts_msg(md, "new", "1003.notrail", "a\nb");
	puts_msg(md, "new", "1004.empty", "");
	puts_msg(md, "new", "1005.dots", ".\n..x\n");
	puts_msg(md, "new", "1006.lonecr", "a\rb");
	put_boundary(md, "1007.boundary");
	m = open_md(md);
	CHECK_COUNT(m, 8);
	CHECK(size_of(m, "1000.lf") == 6);
	CHECK(size_of(m, "1001.crlf") == 6);
	CHECK(size_of(m, "1002.mixed") == 9);
	CHECK(size_of(m, "1003.notrail") == 6);	/* CRLF added */
	CHECK(size_of(m, "1004.empty") == 0);
	CHECK(size_of(m, "1005.dots") == 8);	/* before stuffing */
	CHECK(size_of(m, "1006.lonecr") == 5);
	CHECK(size_of(m, "1007.boundary") == 131074);
	CHECK(m->live_count == 8);
	CHECK(m->live_size == 6 + 6 + 9 + 6 + 0 + 8 + 5 + 131074);
	/* new/ went to cur/ as "<name>:2,". */
	CHECK(!exists(md, "new", "1000.lf"));
	CHECK(exists(md, "cur", "1000.lf:2,"));
	CHECK_STR(m->msgs[0].name, "1000.lf:2,");
	CHECK_STR(m->msgs[0].uidl, "1000.lf");
	maildrop_close(m);
	/* The same sizes again from the index. */
	m = open_md(md);
	CHECK(size_of(m, "1002.mixed") == 9);
	CHECK(size_of(m, "1007.boundary") == 131074);
	maildrop_close(m);
}

static void
test_uidl_and_order(void)
{
	char md[256];
	struct maildrop *m;
	char *u1, *u2;

	snprintf(md, sizeof(md), "%s/uidl", top);
	mkmaildir(md);
	puts_msg(md, "new", "100.b", "x\n");
	puts_msg(md, "cur", "100.a:2,S", "x\n");
	puts_msg(md, "new", "9.c", "x\n");
	puts_msg(md, "new", ".hidden", "x\n");
	puts_msg(md, "cur", ".hidden", "x\n");
	mkdir(mdpath("uidl/cur/subdir"), 0700);
	mkfifo(mdpath("uidl/cur/7.fifo:2,"), 0600);
	m = open_md(md);
	CHECK_COUNT(m, 3);
	/* Delivery time first (9 before 100, not as strings), then name. */
	CHECK_STR(m->msgs[0].uidl, "9.c");
	CHECK_STR(m->msgs[1].uidl, "100.a");
	CHECK_STR(m->msgs[2].uidl, "100.b");
	CHECK(exists(md, "new", ".hidden"));
	u1 = strdup(m->msgs[1].uidl);
	maildrop_close(m);

	puts_msg(md, "new", "5.early", "x\n");
	puts_msg(md, "new", "200.late", "x\n");
	m = open_md(md);
	CHECK_COUNT(m, 5);
	CHECK_STR(m->msgs[0].uidl, "5.early");
	CHECK_STR(m->msgs[2].uidl, u1);
	CHECK_STR(m->msgs[4].uidl, "200.late");
	u2 = strdup(m->msgs[2].uidl);
	maildrop_close(m);
	m = open_md(md);
	CHECK_STR(m->msgs[2].uidl, u2);
	maildrop_close(m);
	free(u1);
	free(u2);
}

static void
test_bad_names(void)
{
	char md[256];
	char name[201];
	struct maildrop *m;
	char *hashed;

	snprintf(md, sizeof(md), "%s/names", top);
	mkmaildir(md);
	memset(name, 'n', 200);
	memcpy(name, "1.", 2);
	name[200] = '\0';
	puts_msg(md, "new", name, "x\n");
	puts_msg(md, "cur", "2.with space:2,", "x\n");
	puts_msg(md, "cur", "3.dup:2,", "x\n");
	puts_msg(md, "cur", "3.dup:2,S", "x\n");
	m = open_md(md);
	CHECK_COUNT(m, 4);
	for (size_t i = 0; i < m->count; i++)
		CHECK(uidl_ok(m->msgs[i].uidl));
	CHECK(strlen(m->msgs[0].uidl) == 64);
	CHECK(strcmp(m->msgs[1].uidl, "2.with space") != 0);
	CHECK_STR(m->msgs[2].uidl, "3.dup");
	CHECK(strcmp(m->msgs[3].uidl, m->msgs[2].uidl) != 0);
	hashed = strdup(m->msgs[0].uidl);
	maildrop_close(m);
	m = open_md(md);
	CHECK_STR(m->msgs[0].uidl, hashed);
	CHECK(strcmp(m->msgs[3].uidl, m->msgs[2].uidl) != 0);
	maildrop_close(m);
	/* Without the index the hash comes out the same. */
	unlink(mdpath("names/postern.index"));
	m = open_md(md);
	CHECK_STR(m->msgs[0].uidl, hashed);
	maildrop_close(m);
	free(hashed);
}

static void
test_create(void)
{
	char md[256];
	struct maildrop *m;
	struct stat st;

	snprintf(md, sizeof(md), "%s/newuser", top);
	m = open_md(md);
	CHECK(m->count == 0 && m->live_count == 0 && m->live_size == 0);
	CHECK(stat(md, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(exists(md, "new", "") && exists(md, "cur", "") &&
	    exists(md, "tmp", ""));
	maildrop_close(m);

	snprintf(md, sizeof(md), "%s/bare", top);
	mkdir(md, 0700);
	m = open_md(md);
	CHECK_COUNT(m, 0);
	CHECK(exists(md, "cur", "") && exists(md, "new", ""));
	maildrop_close(m);
}

/* fcntl locks are per process: only another process sees the lock. */
static int
open_in_child(const char *md)
{
	enum resp_code rc;
	char err[256];
	int status;
	pid_t pid;

	if ((pid = fork()) == 0) {
		struct maildrop *m = maildrop_open(md, &rc, err, sizeof(err));

		maildrop_close(m);
		_exit(m != NULL ? 0 : rc == RC_IN_USE ? 10 : 20);
	}
	if (pid == -1 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void
test_lock(void)
{
	char md[256];
	struct maildrop *m;

	snprintf(md, sizeof(md), "%s/lock", top);
	mkmaildir(md);
	puts_msg(md, "new", "1.a", "x\n");
	m = open_md(md);
	CHECK(open_in_child(md) == 10);
	maildrop_close(m);
	CHECK(open_in_child(md) == 0);
	m = open_md(md);
	maildrop_close(m);
}

static void
make_four(const char *md)
{
	mkmaildir(md);
	puts_msg(md, "new", "1.a", "a\n");
	puts_msg(md, "new", "2.b", "bb\n");
	puts_msg(md, "new", "3.c", "ccc\n");
	puts_msg(md, "new", "4.d", "dddd\n");
}

static void
test_commit(void)
{
	char md[256];
	enum resp_code rc = RC_AUTH;
	struct maildrop *m;

	snprintf(md, sizeof(md), "%s/commit", top);
	make_four(md);
	m = open_md(md);
	CHECK(m->live_size == 3 + 4 + 5 + 6);
	maildrop_mark_deleted(m, 1);
	maildrop_mark_deleted(m, 1);
	maildrop_mark_deleted(m, 3);
	maildrop_mark_deleted(m, 99);
	CHECK(m->live_count == 2 && m->live_size == 3 + 5);
	CHECK(maildrop_commit(m, &rc) == 0);
	CHECK(rc == RC_NONE);
	CHECK_COUNT(m, 2);
	maildrop_close(m);
	CHECK(exists(md, "cur", "1.a:2,") && exists(md, "cur", "3.c:2,"));
	CHECK(!exists(md, "cur", "2.b:2,") && !exists(md, "cur", "4.d:2,"));
	m = open_md(md);
	CHECK_COUNT(m, 2);
	CHECK_STR(m->msgs[0].uidl, "1.a");
	CHECK_STR(m->msgs[1].uidl, "3.c");
	CHECK(strstr(read_index(md), "2.b") == NULL);
	maildrop_close(m);
}

static void
test_reset_and_close(void)
{
	char md[256];
	enum resp_code rc;
	struct maildrop *m;

	snprintf(md, sizeof(md), "%s/reset", top);
	make_four(md);
	m = open_md(md);
	maildrop_mark_deleted(m, 0);
	maildrop_mark_deleted(m, 2);
	maildrop_reset(m);
	CHECK(m->live_count == 4 && m->live_size == 18);
	CHECK(!m->msgs[0].deleted && !m->msgs[2].deleted);
	CHECK(maildrop_commit(m, &rc) == 0 && rc == RC_NONE);
	maildrop_close(m);
	m = open_md(md);
	CHECK_COUNT(m, 4);
	for (size_t i = 0; i < m->count; i++)
		maildrop_mark_deleted(m, i);
	CHECK(m->live_count == 0 && m->live_size == 0);
	maildrop_close(m);	/* no UPDATE: nothing goes */
	m = open_md(md);
	CHECK_COUNT(m, 4);
	maildrop_close(m);
}

static void
test_behind_our_back(void)
{
	char md[256];
	enum resp_code rc = RC_AUTH;
	off_t len = -1;
	struct maildrop *m;
	char buf[16];
	ssize_t n;
	int fd;

	snprintf(md, sizeof(md), "%s/behind", top);
	make_four(md);
	m = open_md(md);
	fd = maildrop_open_message(m, 1, &len, &rc);
	CHECK(fd >= 0 && rc == RC_NONE && len == 3);
	n = read(fd, buf, sizeof(buf));
	CHECK(n == 3 && memcmp(buf, "bb\n", 3) == 0);
	close(fd);
	/* Removed: "message no longer exists", not a server fault. */
	unlink(mdpath("behind/cur/1.a:2,"));
	CHECK(maildrop_open_message(m, 0, &len, &rc) == -1 && rc == RC_NONE);
	/* Renamed by an IMAP server setting a flag: still found. */
	rename(mdpath("behind/cur/3.c:2,"), mdpath("behind/cur/3.c:2,S"));
	fd = maildrop_open_message(m, 2, &len, &rc);
	CHECK(fd >= 0 && rc == RC_NONE);
	if (fd >= 0)
		close(fd);
	/* A FIFO in place of a message must not hang the session. */
	rename(mdpath("behind/cur/2.b:2,"), mdpath("behind/2.b"));
	mkfifo(mdpath("behind/cur/2.b:2,"), 0600);
	CHECK(maildrop_open_message(m, 1, &len, &rc) == -1 && rc == RC_SYS_PERM);
	unlink(mdpath("behind/cur/2.b:2,"));
	rename(mdpath("behind/2.b"), mdpath("behind/cur/2.b:2,"));
	rename(mdpath("behind/cur/4.d:2,"), mdpath("behind/cur/4.d:2,RS"));
	maildrop_mark_deleted(m, 0);
	maildrop_mark_deleted(m, 3);
	CHECK(maildrop_commit(m, &rc) == 0 && rc == RC_NONE);
	maildrop_close(m);
	CHECK(!exists(md, "cur", "4.d:2,RS"));
	CHECK(exists(md, "cur", "2.b:2,") && exists(md, "cur", "3.c:2,S"));
	m = open_md(md);
	CHECK_COUNT(m, 2);
	maildrop_close(m);
}

static void
check_rebuilt(const char *md, const char *what)
{
	struct maildrop *m = open_md(md);
	const char *text;
	int lines;

	printf("index %s: rebuilt\n", what);
	CHECK_COUNT(m, 4);
	CHECK(size_of(m, "1.a") == 3 && size_of(m, "4.d") == 6);
	CHECK_STR(m->msgs[2].uidl, "3.c");
	text = read_index(md);
	CHECK(strncmp(text, "postern-index 2 4\n", 18) == 0);
	for (lines = 0; (text = strchr(text, '\n')) != NULL; text++)
		lines++;
	CHECK(lines == 5);
	maildrop_close(m);
}

static void
test_index_corrupt(void)
{
	char md[256];
	char garbage[512], line[256], *text, *second;
	struct maildrop *m;
	struct stat st;
	ino_t ino;

	snprintf(md, sizeof(md), "%s/corrupt", top);
	make_four(md);
	m = open_md(md);
	maildrop_close(m);
	text = strdup(read_index(md));
	CHECK(strncmp(text, "postern-index 2 4\n", 18) == 0);
	/* A current index is not rewritten (the rename would change it). */
	stat(mdpath("corrupt/postern.index"), &st);
	ino = st.st_ino;
	m = open_md(md);
	maildrop_close(m);
	CHECK(stat(mdpath("corrupt/postern.index"), &st) == 0 &&
	    st.st_ino == ino);

	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(i * 37 + 11);
	put(md, ".", "postern.index", garbage, sizeof(garbage));
	check_rebuilt(md, "garbage");
	put(md, ".", "postern.index", text, strlen(text) / 2);
	check_rebuilt(md, "truncated mid-line");
	put(md, ".", "postern.index", text, strchr(text + 18, '\n') + 1 - text);
	check_rebuilt(md, "truncated at a line end");
	text[14] = '1';		/* "postern-index 1 4": sizes of old */
	write_index(md, text);
	text[14] = '2';
	check_rebuilt(md, "of an older version");
	write_index(md, "");
	check_rebuilt(md, "empty");
	/* Records swapped: the index must be in delivery order. */
	second = strchr(text + 18, '\n') + 1;
	snprintf(line, sizeof(line), "postern-index 2 2\n%.*s%.*s",
	    (int)(strchr(second, '\n') + 1 - second), second,
	    (int)(second - text - 18), text + 18);
	write_index(md, line);
	check_rebuilt(md, "out of order");
	free(text);
}

static void
test_index_reuse(void)
{
	char md[256], line[256];
	struct maildrop *m;
	struct stat st;

	snprintf(md, sizeof(md), "%s/index", top);
	make_four(md);
	m = open_md(md);	/* into cur/ */
	maildrop_close(m);
	/* A current record is believed without reading the file... */
	stat(mdpath("index/cur/2.b:2,"), &st);
	snprintf(line, sizeof(line), "postern-index 2 1\n2.b\t%ju\t12345\t"
	    "kept-uidl\n", (uintmax_t)st.st_ino);
	write_index(md, line);
	m = open_md(md);
	CHECK(size_of(m, "2.b") == 12345);
	CHECK_STR(by_prefix(m, "2.b")->uidl, "kept-uidl");
	CHECK(size_of(m, "1.a") == 3);
	maildrop_close(m);
	/* ...until the file is replaced (another inode). */
	puts_msg(md, "tmp", "2.b", "bbbbbbb\n");
	rename(mdpath("index/tmp/2.b"), mdpath("index/cur/2.b:2,"));
	m = open_md(md);
	CHECK(size_of(m, "2.b") == 9);
	CHECK_STR(by_prefix(m, "2.b")->uidl, "2.b");
	maildrop_close(m);
}

static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void
test_timing(void)
{
	char md[256];
	char name[64], body[300];
	struct maildrop *m;
	struct timespec t0;
	int n = 20000;

	snprintf(md, sizeof(md), "%s/big", top);
	mkmaildir(md);
	memset(body, 'x', sizeof(body));
	for (int i = 0; i < n; i++) {
		body[i % 250 + 20] = '\n';
		snprintf(name, sizeof(name), "%d.M%dP42.host.example:2,S",
		    1700000000 + i / 3, i);
		put(md, "cur", name, body, sizeof(body));
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	m = open_md(md);
	printf("open %d messages, no index: %.1f ms\n", n, ms_since(&t0));
	CHECK_COUNT(m, (size_t)n);
	maildrop_close(m);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	m = open_md(md);
	printf("open %d messages, current index: %.1f ms\n", n, ms_since(&t0));
	CHECK_COUNT(m, (size_t)n);
	CHECK(m->msgs[0].size == 300 + 1 + 2);
	CHECK(strcmp(m->msgs[0].uidl, "1700000000.M0P42.host.example") == 0);
	maildrop_close(m);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(top, sizeof(top), "%s/postern-md-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(top) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_sizes();
	test_uidl_and_order();
	test_bad_names();
	test_create();
	test_lock();
	test_commit();
	test_reset_and_close();
	test_behind_our_back();
	test_index_corrupt();
	test_index_reuse();
	test_timing();
	nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_done("test_maildrop");
}
