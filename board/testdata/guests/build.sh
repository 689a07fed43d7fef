#!/bin/sh
# build.sh [OUTDIR]: assemble every NAME.S here into the flat binary
# NAME.bin (in OUTDIR, default here). Needs GNU binutils (as, objcopy,
# objdump). The .bin files are committed, so only a change to a .S or to
# layout.inc needs this; a test of package board checks that they agree.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for src in "$here"/*.S; do
	name=$(basename "$src" .S)
	as --32 --fatal-warnings -I "$here" -o "$tmp/$name.o" "$src"
	# A flat binary has nowhere to put relocations: every address must
	# be absolute or PC-relative.
	if objdump -r "$tmp/$name.o" | grep -q 'RELOCATION RECORDS'; then
		echo "build.sh: $name.o has relocations:" >&2
		objdump -r "$tmp/$name.o" >&2
		exit 1
	fi
	objcopy -O binary -j .text "$tmp/$name.o" "$out/$name.bin"
done
