#!/bin/sh
# make check-fresh: the README's two commands on a bare Debian 12.
#
# Builds a minimal Debian 12 root with debootstrap (--variant=minbase) from
# the Debian mirror this machine's apt is configured with (or $MIRROR),
# installs `make` in it and nothing else, clones the committed HEAD of this
# tree into it, and runs `make demo` and then `make check` there as root,
# so that the project's own files must install everything they need.  The
# root is removed at the end, also when a step fails.  Needs root and
# network access to the mirror; installs debootstrap on the host if needed.
#
# Environment: MIRROR (default: the first Debian URI in /etc/apt),
# SUITE (bookworm), FRESH_KEEP=1 keeps the root for inspection.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
SUITE=${SUITE:-bookworm}

if [ "$(id -u)" != 0 ]; then
	echo "check-fresh: needs root (debootstrap and chroot); run: sudo make check-fresh" >&2
	exit 1
fi

configured_mirror() {
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
		/etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		sed -n -e 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)$/\1/p' \
			-e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\/debian\)[[:space:]].*/\2/p' "$f"
	done | head -n 1
}
MIRROR=${MIRROR:-$(configured_mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

if ! command -v debootstrap > /dev/null; then
	echo "check-fresh: installing debootstrap on the host"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap > /dev/null
fi

root=$(mktemp -d "${TMPDIR:-/var/tmp}/gsrecover-fresh.XXXXXX")
chmod 755 "$root" # apt in the root downloads as _apt
cleanup() {
	st=$?
	for m in dev/pts dev proc sys; do
		mountpoint -q "$root/$m" 2> /dev/null && umount -l "$root/$m"
	done
	if [ "${FRESH_KEEP:-}" = 1 ]; then
		echo "check-fresh: root kept in $root"
	else
		rm -rf --one-file-system "$root"
	fi
	exit $st
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "check-fresh: debootstrap --variant=minbase $SUITE from $MIRROR into $root"
debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" > "$root.log" 2>&1 || {
	tail -n 20 "$root.log" >&2
	rm -f "$root.log"
	exit 1
}
rm -f "$root.log"

mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2> /dev/null || :

# A clean clone of what is committed, not the working tree.
git clone -q --no-hardlinks "$top" "$root/root/gsrecover"
rm -rf "$root/root/gsrecover/.git"

echo "check-fresh: the bare root gets make and nothing else"
chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make > /dev/null'

echo "check-fresh: make demo"
chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
	sh -c 'cd /root/gsrecover && make demo' > "$top/check-fresh-demo.log" 2>&1 || {
	tail -n 30 "$top/check-fresh-demo.log" >&2
	echo "check-fresh: make demo FAILED (log: check-fresh-demo.log)" >&2
	exit 1
}
echo "check-fresh: make demo passed (log: check-fresh-demo.log)"

echo "check-fresh: make check"
chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
	sh -c 'cd /root/gsrecover && make check' > "$top/check-fresh-check.log" 2>&1 || {
	tail -n 40 "$top/check-fresh-check.log" >&2
	echo "check-fresh: make check FAILED (log: check-fresh-check.log)" >&2
	exit 1
}
tail -n 3 "$top/check-fresh-check.log"
echo "check-fresh: make demo and make check passed on a bare Debian $SUITE"
