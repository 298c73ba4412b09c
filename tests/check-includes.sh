#!/bin/sh
# check-includes.sh -- fail on a cycle of #include "..." among the sources.
#
#   sh tests/check-includes.sh [TOP]
#
# A module is a file name without its extension: src/pages/btree.c and
# include/btree.h are the module btree.  Module A depends on module B when
# a file of A includes B's header.  The engine's layers (the page reader's
# are listed in include/record.h) must form no cycle: each module may use
# only the ones below it.  Prints every cycle found and exits 1, else exits
# 0 silently.  make lint runs it.
set -eu

top=${1:-.}
cd "$top"

# Every source of src/ and every public header, one name a line.
files=$(ls src/*/*.[ch] include/*.h)

awk '
function module(path,    m) {
	m = path
	sub(/.*\//, "", m)
	sub(/\.[^.]*$/, "", m)
	return m
}
FNR == 1 { from = module(FILENAME) }
/^[ \t]*#[ \t]*include[ \t]*"/ {
	to = $0
	sub(/^[^"]*"/, "", to)
	sub(/".*/, "", to)
	to = module(to)
	if (to != from && !((from, to) in edge)) {
		edge[from, to] = 1
		out[from] = out[from] " " to
		node[from] = node[to] = 1
	}
}
# Depth first; state 1 while on the path, 2 once done.
function visit(u, depth,    n, v, i, k, cyc) {
	state[u] = 1
	path[depth] = u
	n = split(out[u], v, " ")
	for (i = 1; i <= n; i++) {
		if (state[v[i]] == 1) {
			for (k = depth; path[k] != v[i]; k--)
				;
			cyc = ""
			for (; k <= depth; k++)
				cyc = cyc path[k] " -> "
			print "include cycle: " cyc v[i] > "/dev/stderr"
			found = 1
		} else if (state[v[i]] == 0) {
			visit(v[i], depth + 1)
		}
	}
	state[u] = 2
}
END {
	for (u in node)
		state[u] = 0
	for (u in node)
		if (state[u] == 0)
			visit(u, 1)
	exit found
}
' $files
