#!/bin/sh
# sgbpf-probe, privileged and not: verdicts, exit statuses, JSON, and nothing
# left behind (namespaces, programs, links). Needs root; skipped otherwise.
set -u

B=${SGBPF_BUILDDIR:-.}
PROBE=$B/tools/sgbpf-probe
fail=0
tmp=

say() { printf '%s\n' "$*"; }
bad() { say "FAIL: $*"; fail=1; }
cleanup() { [ -n "$tmp" ] && rm -rf "$tmp"; }
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	say "SKIP: needs root (the probe's privileged run and its unprivileged run as nobody)"
	exit 77
fi
if [ ! -x "$PROBE" ]; then
	say "FAIL: $PROBE not built"
	exit 1
fi
for t in python3 bpftool ip; do
	command -v $t >/dev/null 2>&1 || { say "SKIP: $t not installed"; exit 77; }
done

json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# The sgbpf programs loaded right now (names are cut to 15 characters).
sg_progs() { bpftool prog list 2>/dev/null | grep -cE 'name (sg_scatter|sg_gather|sg_fold_[a-z]+) '; }

# ---------------------------------------------------------------- as root
tmp=$(mktemp -d) && chmod 755 "$tmp" || { say "FAIL: mktemp"; exit 1; }
ns_before=$(ip netns list | awk '{print $1}' | sort)
links_before=$(ip -o link | awk -F': ' '{print $2}' | sort)
progs_before=$(sg_progs)

out=$("$PROBE"); rc=$?
say "$out"
[ $rc -eq 0 ] || bad "root: exit status $rc, expected 0"
# Check lines: two spaces, the name, then the status column.
notok=$(printf '%s\n' "$out" | grep -E '^  [^ ].* (missing|n/a) ' || true)
[ -z "$notok" ] || bad "root: checks not ok:
$notok"
printf '%s\n' "$out" | grep -qx 'eBPF transport: available' || bad "root: no 'available' verdict"
printf '%s\n' "$out" | grep -qx 'AUTO transport: ebpf' || bad "root: AUTO does not pick ebpf"

js=$("$PROBE" --json); rc=$?
[ $rc -eq 0 ] || bad "root --json: exit status $rc"
printf '%s' "$js" | json_get '1' >/dev/null || bad "root --json does not parse"
[ "$(printf '%s' "$js" | json_get 'all(c["status"] == "ok" for c in d["checks"])')" = True ] ||
	bad "root --json: a check is not ok"
[ "$(printf '%s' "$js" | json_get 'd["ebpf_available"] and d["attach_tested"]')" = True ] ||
	bad "root --json: not available or attachment untested"
ids=$(printf '%s' "$js" | json_get '" ".join("p%d" % i for i in d["prog_ids"]) + " " + " ".join("l%d" % i for i in d["link_ids"])')
[ "$(printf '%s' "$js" | json_get 'len(d["prog_ids"]) > 0 and len(d["link_ids"]) > 0')" = True ] ||
	bad "root --json: no program or link ids reported"

q=$("$PROBE" -q); rc=$?
[ $rc -eq 0 ] && [ "$q" = "eBPF transport: available" ] || bad "root -q: '$q' (exit $rc)"
"$PROBE" --no-such-option >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || bad "usage error: exit status $rc, expected 2"

# Nothing left behind. The probe's namespace is anonymous: it can never show
# in `ip netns list`, but a named one must not appear either (names made by
# concurrent tests' netlab, "<prefix><pid>c|s|w<i>", are told apart).
ns_after=$(ip netns list | awk '{print $1}' | sort)
printf '%s\n' "$ns_before" > "$tmp/ns_before"
new_ns=$(printf '%s\n' "$ns_after" | comm -13 "$tmp/ns_before" -)
for ns in $new_ns; do
	if printf '%s' "$ns" | grep -qE '^[a-z0-9]+[0-9]+(c|s|w[0-9]+)(-[0-9]+)?$'; then
		say "note: namespace $ns appeared meanwhile (a concurrent test's netlab)"
	else
		bad "new network namespace $ns after the probe"
	fi
done
links_after=$(ip -o link | awk -F': ' '{print $2}' | sort)
printf '%s\n' "$links_after" | grep -q '^sgp[01]' && bad "veth sgp0/sgp1 left in this namespace"
[ "$links_before" = "$links_after" ] || say "note: links changed meanwhile (not the probe's names)"
# Programs: the sgbpf-named count must not grow; where it did (other tests
# load the same programs), the ids the probe reported are the judge.
progs_after=$(sg_progs)
if [ "$progs_after" -gt "$progs_before" ]; then
	say "note: sgbpf programs $progs_before -> $progs_after; checking the probe's own ids"
fi
for id in $ids; do
	case $id in
	p*) bpftool prog show id "${id#p}" >/dev/null 2>&1 && bad "program ${id#p} outlived the probe" ;;
	l*) bpftool link show id "${id#l}" >/dev/null 2>&1 && bad "link ${id#l} outlived the probe" ;;
	esac
done
say "root: sgbpf programs before $progs_before, after $progs_after; probe ids gone: $ids"

# ---------------------------------------------------------------- unprivileged
if ! id nobody >/dev/null 2>&1 || ! command -v setpriv >/dev/null 2>&1; then
	say "SKIP (unprivileged part): no user nobody or no setpriv"
	exit $fail
fi
# A copy nobody can reach: the build tree may be private.
cp "$PROBE" "$tmp/" || { bad "cannot copy the probe"; exit 1; }
grp=$(id -gn nobody)
as_nobody() {
	setpriv --reuid=nobody --regid="$grp" --clear-groups --inh-caps=-all "$@"
}

out=$(as_nobody "$tmp/sgbpf-probe"); rc=$?
say "$out"
[ $rc -eq 1 ] || bad "nobody: exit status $rc, expected 1"
verdict=$(printf '%s\n' "$out" | grep '^eBPF transport:')
printf '%s' "$verdict" | grep -q 'NOT available' || bad "nobody: verdict '$verdict'"
printf '%s' "$verdict" | grep -q 'capabilit' || bad "nobody: the verdict gives no capabilities reason"
printf '%s' "$verdict" | grep -q 'fall back to io_uring' || bad "nobody: the verdict does not name io_uring"
printf '%s\n' "$out" | grep -qx 'AUTO transport: io_uring' || bad "nobody: AUTO does not pick io_uring"
# Every failure comes with a fix.
printf '%s\n' "$out" | awk '/^  [^ ].* missing /{m=1; next} m && !/fix: /{bad=1} {m=0} END{exit bad}' ||
	bad "nobody: a missing check has no fix line"

js=$(as_nobody "$tmp/sgbpf-probe" --json); rc=$?
[ $rc -eq 1 ] || bad "nobody --json: exit status $rc"
printf '%s' "$js" | python3 -c 'import json,sys; json.load(sys.stdin)' || bad "nobody --json does not parse"
[ "$(printf '%s' "$js" | json_get 'd["ebpf_available"] is False and d["fallback"] == "io_uring" and "CAP_BPF" in d["reason"]')" = True ] ||
	bad "nobody --json: wrong verdict: $js"
q=$(as_nobody "$tmp/sgbpf-probe" -q); rc=$?
[ $rc -eq 1 ] && [ "$(printf '%s\n' "$q" | wc -l)" -eq 1 ] || bad "nobody -q: '$q' (exit $rc)"

# The fix the probe gives works: file capabilities, no root.
if command -v setcap >/dev/null 2>&1 && setcap cap_bpf,cap_net_admin,cap_perfmon+ep "$tmp/sgbpf-probe" 2>/dev/null; then
	out=$(as_nobody "$tmp/sgbpf-probe" -q); rc=$?
	[ $rc -eq 0 ] || bad "nobody with cap_bpf,cap_net_admin,cap_perfmon: exit $rc: $out"
	say "nobody with file capabilities: $out"
	# Without CAP_PERFMON the verifier refuses sg_scatter: say so.
	setcap cap_bpf,cap_net_admin+ep "$tmp/sgbpf-probe"
	out=$(as_nobody "$tmp/sgbpf-probe" -q); rc=$?
	[ $rc -eq 1 ] && printf '%s' "$out" | grep -q CAP_PERFMON ||
		bad "nobody without CAP_PERFMON: exit $rc: $out"
	say "nobody without CAP_PERFMON: $out"
else
	say "note: setcap unavailable here; file-capability runs skipped"
fi

[ $fail -eq 0 ] && say "PASS"
exit $fail
