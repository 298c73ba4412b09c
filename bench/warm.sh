# warm.sh -- sourced by the benchmarks: warm_memory DIR writes 1 GiB into
# DIR and removes it, so that the contender run next starts, as every
# other does, with that much memory just used and free again.  This
# machine is a VM that gives idle memory back to its host, and touching
# it again costs system time: a copy of the 327 MB benchmark database
# takes 0.12 s of system time on memory just freed, 0.31-0.48 s on memory
# left idle for 10 s.  That cost falls on whoever writes the most new
# pages and varies from run to run with what ran before; this takes it
# out of every comparison alike.
warm_memory() {
	dd if=/dev/zero of="$1/warm" bs=1M count=1024 2> /dev/null
	rm -f "$1/warm"
}
