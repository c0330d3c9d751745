#!/bin/sh
# BuildKit's SBOM generator protocol (docs/attestations/sbom-protocol.md in moby/buildkit):
# scan $BUILDKIT_SCAN_SOURCE, and each directory in $BUILDKIT_SCAN_SOURCE_EXTRAS when that is set
# and exists, with syft; write one in-toto statement per filesystem (predicate: syft's SPDX JSON)
# to $BUILDKIT_SCAN_DESTINATION/<name of the filesystem>.spdx.json.
set -eu

: "${BUILDKIT_SCAN_DESTINATION:?BUILDKIT_SCAN_DESTINATION is not set}"
: "${BUILDKIT_SCAN_SOURCE:?BUILDKIT_SCAN_SOURCE is not set}"

STATEMENT='"_type":"https://in-toto.io/Statement/v0.1"'
PREDICATE_TYPE='"predicateType":"https://spdx.dev/Document"'

scan() {
    source=$1
    name=$(basename "$source")
    spdx=$(mktemp)
    syft scan "dir:$source" --quiet --source-name "$name" --output "spdx-json=$spdx"
    out="$BUILDKIT_SCAN_DESTINATION/$name.spdx.json"
    # BuildKit fills in the subject (the image) itself.
    {
        printf '{%s,%s,"subject":[],"predicate":' "$STATEMENT" "$PREDICATE_TYPE"
        cat "$spdx"
        printf '}\n'
    } >"$out.tmp"
    mv "$out.tmp" "$out"
    rm -f "$spdx"
}

scan "$BUILDKIT_SCAN_SOURCE"
extras=${BUILDKIT_SCAN_SOURCE_EXTRAS:-}
if [ -n "$extras" ] && [ -d "$extras" ]; then
    for extra in "$extras"/*; do
        if [ -d "$extra" ]; then
            scan "$extra"
        fi
    done
fi
