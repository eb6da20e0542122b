#!/bin/sh
# Proves that a change to correlation leaves the grouping of the two shared
# AIT scenarios byte-identical: replays each file through the real store
# (SQLite, batch path, batches of 1,000), exports alert_id,incident_id and
# compares the SHA-256 with the one recorded before the change (first
# recorded with the code before the engine moved out of internal/store,
# commit 74ce82c). Run from the repository root:
#   sh internal/correlate/testdata/same-output.sh [DATA_DIR]
set -e
data=${1:-../shared/data/ait}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/starter" ./starter
status=0
while read -r want name; do
	"$tmp/starter" bench ingest "$data/$name.ndjson.gz" --path batch --store sqlite --export "$tmp/$name.csv" >/dev/null
	got=$(sha256sum "$tmp/$name.csv" | cut -d' ' -f1)
	if [ "$got" = "$want" ]; then echo "$name: identical ($got)"; else echo "$name: DIFFERENT ($got, want $want)"; status=1; fi
done < internal/correlate/testdata/same-output.sha256
exit $status
