#!/bin/sh
# The page reader's corruption sweep (tests/sweep/recover.c): thousands of
# bit flips across every page of a fixture database and of its -wal, each
# variant recovered.  make check runs it natively and on the ASan+UBSan
# build; make check-valgrind under valgrind.
: "${GSR_BUILD:?run with make check}"
exec ${GSR_EXEC_PREFIX:-} "$GSR_BUILD/tests/sweep-recover"
