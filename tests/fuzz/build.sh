#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz into a build directory:
#	tests/fuzz/build.sh [BUILD_DIR]
# BUILD_DIR defaults to $FUZZ_BUILD, else /tmp/postern-fuzz. The sources are
# compiled directly with clang (no automake). config.h and the library
# flags come from a configured build tree: $POSTERN_BUILD if set, else
# BUILD_DIR/cfg, where configure runs the first time.
# Needs clang with the libFuzzer runtime (Debian: clang libclang-rt-14-dev).
set -eu

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$fuzz_dir/../.." && pwd)
out=${1:-${FUZZ_BUILD:-/tmp/postern-fuzz}}
CC=${CC:-clang}

mkdir -p "$out"
out=$(cd "$out" && pwd)

cfg=${POSTERN_BUILD:-$out/cfg}
if [ ! -f "$cfg/config.h" ] || [ ! -f "$cfg/Makefile" ]; then
	echo "build.sh: configuring in $cfg"
	mkdir -p "$cfg"
	(cd "$cfg" && "$top/configure" >configure.out 2>&1) || {
		tail -20 "$cfg/configure.out" >&2
		exit 1
	}
fi

# A variable configure substituted into the top Makefile.
mkvar() {
	sed -n "s/^$1 = //p" "$cfg/Makefile" | head -n 1
}

probe='int LLVMFuzzerTestOneInput(const char *d, long n) { return !d + !n; }'
if ! echo "$probe" |
    "$CC" -fsanitize=fuzzer -x c - -o "$out/.probe" 2>/dev/null; then
	echo "build.sh: $CC cannot build libFuzzer targets;" \
	    "apt-get install clang libclang-rt-14-dev" >&2
	exit 1
fi
rm -f "$out/.probe"

CFLAGS="-g -O1 -std=c17 -fsanitize=fuzzer,address,undefined \
 -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wall -Wextra \
 -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
 ${FUZZ_CFLAGS:-}"
# The quotes in -D...=\"x\" are meant to reach the compiler: C strings.
# shellcheck disable=SC2089
CPPFLAGS="-I$top -I$cfg -DSYSCONFDIR=\"/etc\" -DLOCALSTATEDIR=\"/var\" \
 -DRUNSTATEDIR=\"/run\" $(mkvar OPENSSL_CFLAGS) $(mkvar SASL_CFLAGS) \
 $(mkvar KRB5_CFLAGS) $(mkvar LDAP_CFLAGS) $(mkvar CRYPT_CFLAGS)"
OPENSSL_LIBS=$(mkvar OPENSSL_LIBS)
ALL_LIBS="$(mkvar SASL_LIBS) $(mkvar KRB5_LIBS) $(mkvar LDAP_LIBS) \
 $(mkvar CRYPT_LIBS) $OPENSSL_LIBS"

# The .c files a Makefile.am lists for a library, so that a file split
# in sasl/ or directory/ needs no change here.
am_sources() {
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$top/$1/Makefile.am" |
	    sed -n "s/^$2_SOURCES *= *//p" | tr '\t' ' ' | tr -s ' ' '\n' |
	    sed -n "s|^\(.*\.c\)$|$1/\1|p"
}

# Project sources and libraries of each target, besides fuzz_<name>.c
# and fuzz_log.c (which stands in for common/log.c).
# shellcheck disable=SC2046
sources() {
	case $1 in
	cmdline)	echo daemon/cmdline.c ;;
	auth)		echo common/base64.c common/xmalloc.c common/clock.c \
			    $(am_sources sasl libpsasl_a) \
			    $(am_sources directory libdirectory_a) ;;
	proxy)		echo daemon/proxy.c common/xmalloc.c common/clock.c ;;
	maildrop_index)	echo daemon/maildrop_index.c common/xmalloc.c ;;
	uidlmap)	echo daemon/uidlmap.c daemon/maildrop_index.c \
			    common/xmalloc.c ;;
	conf)		echo common/conf.c common/netaddr.c common/xmalloc.c ;;
	esac
}
# fuzz_auth.c replaces crypt_hash_make (the yescrypt decoy) with a cheap
# hash: see there.
libs() {
	case $1 in
	cmdline)	echo "" ;;
	auth)		echo "-Wl,--wrap=crypt_hash_make $ALL_LIBS" ;;
	*)		echo "$OPENSSL_LIBS" ;;
	esac
}

for t in ${FUZZ_TARGETS:-$(ls "$fuzz_dir/corpus")}; do
	srcs="$fuzz_dir/fuzz_$t.c $fuzz_dir/fuzz_log.c"
	for s in $(sources "$t"); do
		srcs="$srcs $top/$s"
	done
	echo "build.sh: fuzz_$t"
	# shellcheck disable=SC2086,SC2090,SC2046
	"$CC" $CFLAGS $CPPFLAGS $srcs $(libs "$t") -o "$out/fuzz_$t"
done
