#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The man pages (docs/man/) against the public API: every function declared
# with SGBPF_API in include/sgbpf.h has a page of its own name, either the
# page that documents it or a link page (".so man3/<page>.3") to it; the page
# names it in NAME and declares it in SYNOPSIS; every page is installed
# (listed in docs/man/man.am) and every sg*(N) reference names a page that
# exists. Then each page is formatted with groff -ww and man --warnings, when
# they are installed (Debian: groff-base, man-db), and must give no warning.
set -u

src=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
hdr=$src/include/sgbpf.h
dir=$src/docs/man
am=$dir/man.am
fail=0

bad() { printf 'FAIL: %s\n' "$*"; fail=1; }

for f in "$hdr" "$am"; do
	[ -f "$f" ] || { printf 'FAIL: %s is missing\n' "$f"; exit 1; }
done

# ---------------------------------------------------------------- the API
# One declaration per SGBPF_API line, the name just before the first '('.
decls=$(grep -c '^SGBPF_API' "$hdr")
funcs=$(sed -n 's/^SGBPF_API[^(]*[ *]\(sg_[a-z0-9_]*\)(.*/\1/p' "$hdr")
nfuncs=$(printf '%s\n' "$funcs" | grep -c .)
printf '%s public functions in include/sgbpf.h\n' "$nfuncs"
if [ "$nfuncs" -eq 0 ] || [ "$nfuncs" -ne "$decls" ]; then
	bad "parsed $nfuncs function names from $decls SGBPF_API lines of include/sgbpf.h: keep each declaration's name on its SGBPF_API line"
fi

is_link() { head -n 1 "$1" | grep -q '^\.so '; }

for fn in $funcs; do
	page=$dir/$fn.3
	if [ ! -f "$page" ]; then
		bad "$fn has no man page: write docs/man/$fn.3, or a link page containing '.so man3/<page>.3' if another page documents it, and list it in docs/man/man.am"
		continue
	fi
	doc=$page
	if is_link "$page"; then
		target=$(sed -n '1s|^\.so man3/\([A-Za-z0-9_.-]*\.3\)$|\1|p' "$page")
		if [ -z "$target" ] || [ "$(grep -c . "$page")" -ne 1 ]; then
			bad "docs/man/$fn.3: a link page is the one line '.so man3/<page>.3'"
			continue
		fi
		doc=$dir/$target
		if [ ! -f "$doc" ]; then
			bad "docs/man/$fn.3 links to man3/$target, which does not exist"
			continue
		fi
		if is_link "$doc"; then
			bad "docs/man/$fn.3 links to man3/$target, itself a link page"
			continue
		fi
	fi
	name=$(sed -n '/^\.SH NAME/{n;p;q;}' "$doc")
	printf '%s\n' "$name" | grep -qw -- "$fn" ||
		bad "$fn is missing from the NAME line of $(basename "$doc")"
	grep -q "[ *\"]$fn(" "$doc" ||
		bad "$fn is not declared in the SYNOPSIS of $(basename "$doc")"
done

# Link pages of functions that are gone.
for page in "$dir"/*.3; do
	is_link "$page" || continue
	fn=$(basename "$page" .3)
	printf '%s\n' "$funcs" | grep -qx -- "$fn" ||
		bad "docs/man/$fn.3 links a function that include/sgbpf.h does not declare"
done

# ---------------------------------------------------------------- installed
for page in "$dir"/*.[0-9]; do
	grep -q "docs/man/$(basename "$page")\\( \\|\$\\)" "$am" ||
		bad "docs/man/$(basename "$page") is not listed in docs/man/man.am (not installed)"
done

# References to our own pages, such as ".BR sg_test (3)" or "sgbpf\-probe (8)".
refs=$(for page in "$dir"/*.[0-9]; do
	is_link "$page" && continue
	grep -o '\<sg[a-z0-9_\\-]* ([1-8])' "$page" | sed 's/\\-/-/g; s/ (\(.\))$/.\1/' |
		sed "s|^|$(basename "$page") |"
done)
while read -r from ref; do
	[ -n "$ref" ] || continue
	[ -f "$dir/$ref" ] || bad "$from refers to $ref, which has no page"
done <<EOF
$refs
EOF

# ---------------------------------------------------------------- roff
checked=no
if command -v groff >/dev/null 2>&1; then
	checked=yes
	for page in "$dir"/*.[0-9]; do
		is_link "$page" && continue
		out=$(groff -t -man -ww -z "$page" 2>&1)
		[ -z "$out" ] || bad "groff -man -ww: $(basename "$page"): $out"
	done
fi
if command -v man >/dev/null 2>&1; then
	checked=yes
	for page in "$dir"/*.[0-9]; do
		is_link "$page" && continue
		out=$(LC_ALL=C MANWIDTH=80 MAN_DISABLE_SECCOMP=1 man --warnings=all -l "$page" 2>&1 >/dev/null)
		[ -z "$out" ] || bad "man --warnings -l: $(basename "$page"): $out"
	done
fi
[ $checked = yes ] ||
	echo "SKIP (roff part): neither groff nor man is installed (Debian: groff-base, man-db); roff syntax not checked"

[ $fail -eq 0 ] && echo "ok: every public function has a man page"
exit $fail
