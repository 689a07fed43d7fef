#!/bin/sh
# build.sh [OUT]: assemble guest.S into the flat binary guest.bin (or OUT).
# Needs GNU binutils (as, objcopy, objdump). guest.bin is committed, so only
# a change to guest.S needs this; guest_test.go checks the two agree.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/guest.bin}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

as --32 --fatal-warnings -o "$tmp/guest.o" "$here/guest.S"
# A flat binary has nowhere to put relocations: every address must have been
# resolved by the assembler (see the note in guest.S).
if objdump -r "$tmp/guest.o" | grep -q 'RELOCATION RECORDS'; then
	echo "build.sh: guest.o has relocations; use LOAD_ADDR + (label - _start):" >&2
	objdump -r "$tmp/guest.o" >&2
	exit 1
fi
objcopy -O binary -j .text "$tmp/guest.o" "$out"
