#!/bin/sh
# Ctrl-C in the middle of a rebuild: exit 32, and neither the rebuilt
# database, nor the archive, nor any temporary file is left behind.
. "$GSR_TOP/tests/lib.sh"

sh "$GSR_TOP/bench/gen-db.sh" big.db 2000000
ls | grep -v -e '^before.txt$' > before.txt
${GSR_EXEC_PREFIX:-} "$GSR" rebuild big.db --to 0.6.0 > out.txt 2> err.txt &
pid=$!
sleep 0.7
kill -INT $pid
wait $pid
st=$?
is "$st" 32 "interrupted rebuild: exit 32"
ls | grep -v -e '^out.txt$' -e '^err.txt$' -e '^after.txt$' -e '^before.txt$' > after.txt
golden after.txt before.txt "interrupted rebuild: nothing left beside the input"
like "$(cat err.txt)" "^gsrecover: (export: )?interrupted$" "interrupted rebuild: said"

# An interrupted --force run leaves the existing output as it was.
echo keep > big.rebuilt-0.6.0.db
${GSR_EXEC_PREFIX:-} "$GSR" rebuild big.db --to 0.6.0 --force > out.txt 2> err.txt &
pid=$!
sleep 0.7
kill -TERM $pid
wait $pid
is "$?" 32 "interrupted --force rebuild: exit 32"
is "$(cat big.rebuilt-0.6.0.db)" keep "interrupted --force rebuild: the old output is intact"
is "$(ls | grep -c 'tmp-')" 0 "interrupted --force rebuild: no temporary file left"

done_testing
