#!/bin/sh
# Builds and runs every libFuzzer target of tests/fuzz:
#	tests/fuzz/run.sh [SECONDS_PER_TARGET]		(default 30)
# Each target starts from a copy of its seed corpus (corpus/<target>, never
# written to) with its dictionary (dict/<target>.dict). Exits 1 if any
# target crashes, leaks, trips a sanitizer or breaks a property; the
# input that did it is kept in the build directory and the command to
# replay it is printed.
# Environment: FUZZ_BUILD (build dir, default /tmp/postern-fuzz),
# FUZZ_TARGETS (a subset, e.g. "proxy conf"), FUZZ_JOBS (processes per
# target, libFuzzer's -fork; default 1), POSTERN_BUILD (a configured build
# tree, to skip running configure), CC (default clang).
set -eu

secs=${1:-30}
fuzz_dir=$(cd "$(dirname "$0")" && pwd)
out=${FUZZ_BUILD:-/tmp/postern-fuzz}
targets=${FUZZ_TARGETS:-$(ls "$fuzz_dir/corpus")}
jobs=${FUZZ_JOBS:-1}

case $secs in
''|*[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;;
esac

FUZZ_TARGETS=$targets "$fuzz_dir/build.sh" "$out"
out=$(cd "$out" && pwd)

# Leak checks on (libFuzzer's default, made explicit); UBSan findings
# already abort (-fno-sanitize-recover).
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export ASAN_OPTIONS UBSAN_OPTIONS

max_len() {
	case $1 in
	conf)	echo 8192 ;;	# past CONF_LINE_MAX
	proxy)	echo 1024 ;;
	*)	echo 4096 ;;
	esac
}

# The targets' temp files (users file, config, index) go in one directory
# removed at the end, even if a target dies without cleaning up.
scratch=$(mktemp -d /dev/shm/postern-fuzz.XXXXXX 2>/dev/null ||
    mktemp -d "${TMPDIR:-/tmp}/postern-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM
FUZZ_TMPDIR=$scratch
export FUZZ_TMPDIR

# A fresh artifact directory per run, so a replay line never points at
# an older run's input.
arts="$out/artifacts/$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$arts"
failed=""
for t in $targets; do
	work="$scratch/corpus-$t"
	mkdir "$work"
	cp "$fuzz_dir/corpus/$t/"* "$work/"
	log="$out/fuzz_$t.log"
	fork=""
	[ "$jobs" -gt 1 ] && fork="-fork=$jobs"
	echo "run.sh: fuzz_$t for ${secs}s (log: $log)"
	set +e
	# shellcheck disable=SC2086
	"$out/fuzz_$t" $fork -max_total_time="$secs" \
	    -dict="$fuzz_dir/dict/$t.dict" -max_len="$(max_len "$t")" \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$arts/$t-" "$work" >"$log" 2>&1
	rc=$?
	set -e
	grep -E '^#[0-9]+' "$log" | tail -n 1 | sed 's/^/    /'
	if [ "$rc" -ne 0 ]; then
		failed="$failed $t"
		echo "run.sh: fuzz_$t FAILED (exit $rc); from $log:" >&2
		grep -E 'ERROR|SUMMARY|Test unit written' "$log" |
		    tail -n 10 | sed 's/^/    /' >&2
		for a in "$arts/$t-"*; do
			[ -f "$a" ] && echo "    replay: $out/fuzz_$t $a" >&2
		done
	fi
done
rmdir "$arts" 2>/dev/null || true

if [ -n "$failed" ]; then
	echo "run.sh: failures in:$failed" >&2
	exit 1
fi
echo "run.sh: all targets ran ${secs}s without a finding"
