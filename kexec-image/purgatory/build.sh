#!/bin/sh
# Builds the kdump-rs x86_64 purgatory from x86_64.S with GNU binutils.
#
#   build.sh [OUTDIR]         OUTDIR/x86_64.bin, the flat image kexec-image embeds
#                             (default OUTDIR: this folder, i.e. regenerate the committed file)
#   build.sh --test OUTDIR    OUTDIR/x86_64-test, the host test executable (--defsym TEST=1)
#
# Reproducible: `as` writes no timestamps or paths into .text, `objcopy -O binary -j .text`
# keeps only the section's bytes, and the object must have no relocations (checked), so
# the output depends on the source and the binutils version only. The committed binary
# was made with GNU Binutils 2.40 (Debian 12); kexec-image/tests/purgatory.rs rebuilds it
# and fails when the bytes differ.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src="$here/x86_64.S"

test_build=0
if [ "${1:-}" = "--test" ]; then
	test_build=1
	shift
fi
out=${1:-$here}
mkdir -p "$out"
obj="$out/x86_64.o"

if [ "$test_build" = 1 ]; then
	as --64 --defsym TEST=1 -o "$obj" "$src"
else
	as --64 -o "$obj" "$src"
fi

# Position independence: every reference is %rip-relative inside .text, so the
# assembler resolves them all and leaves no relocation for anyone to apply.
if readelf -rW "$obj" | grep -q 'Relocation section'; then
	echo "build.sh: $obj has relocations; the purgatory must be position independent" >&2
	readelf -rW "$obj" >&2
	exit 1
fi

if [ "$test_build" = 1 ]; then
	# -N: one writable and executable segment (the test writes the parameter block
	# and uses the bss inside .text).
	ld -N -static --build-id=none --no-warn-rwx-segments -e test_start \
		-o "$out/x86_64-test" "$obj"
else
	objcopy -O binary -j .text "$obj" "$out/x86_64.bin"
fi
rm -f "$obj"
