#!/usr/bin/env python3
"""Make a maildir for benchmarks and tests.

Writes N messages of exactly S bytes each (LF line ends, some lines
starting with '.', some lines that are a lone '.') the way an MDA does:
into tmp/, then renamed into new/ or, for a share of them, into cur/ with
":2,S". Names start with a delivery time, so the POP3 order is known.

On stdout: "messages N octets T", where T is what POP3 STAT must say
(every LF counts as CRLF; a last line without LF gets CRLF added).

    bench/mkmaildrop.py /tmp/md -n 20000 -s 4096 --cur 0.5
"""

import argparse
import os
import random
import socket
import sys

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet "
         "kilo lima mike november oscar papa quebec romeo sierra tango").split()


def header(i, stamp, host):
    return (f"Return-Path: <sender{i}@example.org>\n"
            f"From: Sender {i} <sender{i}@example.org>\n"
            f"To: user@{host}\n"
            f"Subject: benchmark message {i}\n"
            f"Date: {stamp}\n"
            f"Message-ID: <{stamp}.{i}@{host}>\n"
            "\n")


def body_line(rng):
    """A body line; about one in eight starts with '.', some are just '.'."""
    r = rng.random()
    if r < 0.03:
        return "."
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
    return "." + words if r < 0.125 else words


def message(i, stamp, host, size, rng):
    """Exactly size bytes; ends in LF whenever it is longer than 1 byte."""
    head = header(i, stamp, host).encode()
    out = bytearray(head[:size])
    while len(out) < size:
        out += (body_line(rng) + "\n").encode()
    del out[size:]
    if size > 1:
        out[-1:] = b"\n"
    return bytes(out)


def deliver(path, name, data, to_cur):
    tmp = os.path.join(path, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(data)
    if to_cur:
        os.rename(tmp, os.path.join(path, "cur", name + ":2,S"))
    else:
        os.rename(tmp, os.path.join(path, "new", name))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", help="maildir to create or add to")
    ap.add_argument("-n", "--count", type=int, default=1000)
    ap.add_argument("-s", "--size", type=int, default=4096,
                    help="bytes per message on disk")
    ap.add_argument("--cur", type=float, default=0.5,
                    help="share of messages put in cur/ (0..1)")
    ap.add_argument("--start", type=int, default=1700000000,
                    help="delivery time of the first message")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.count < 0 or args.size < 0 or not 0 <= args.cur <= 1:
        ap.error("count and size must be >= 0, --cur in 0..1")

    rng = random.Random(args.seed)
    host = socket.gethostname().replace("/", "_").replace(":", "_")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(args.path, sub), mode=0o700, exist_ok=True)
    octets = 0
    for i in range(args.count):
        stamp = args.start + i // 4     # a few deliveries share a second
        name = f"{stamp}.M{i % 1000000:06d}P{os.getpid()}Q{i}.{host}"
        data = message(i, stamp, host, args.size, rng)
        deliver(args.path, name, data, rng.random() < args.cur)
        octets += len(data) + data.count(b"\n")
        if data and not data.endswith(b"\n"):
            octets += 2                 # the CRLF the server adds
    print(f"messages {args.count} octets {octets}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
