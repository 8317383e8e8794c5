#!/usr/bin/env bash
# Print the Debian mirror URL this machine's apt already uses, read at run time
# from /etc/apt/sources.list and /etc/apt/sources.list.d/*.{list,sources}
# (one-line and deb822 formats). The first "deb" entry whose suites include
# this machine's codename wins, which skips -security, -updates and third-party
# repositories. DEBIAN_MIRROR in the environment overrides it.
set -euo pipefail

if [ -n "${DEBIAN_MIRROR:-}" ]; then
    echo "$DEBIAN_MIRROR"
    exit 0
fi

. /etc/os-release
codename="${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}"

from_one_line_lists() {
    # deb [options] URI SUITE COMPONENTS...
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
            awk -v s="$codename" '$1 == "deb" && $3 == s { print $2 }'
    done
}

from_deb822_sources() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Paragraph mode: one stanza per record.
        awk -v s="$codename" 'BEGIN { RS = ""; FS = "\n" }
            {
                types = uris = suites = ""; enabled = "yes"
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^#/) continue
                    key = tolower(line); sub(/:.*/, "", key)
                    val = line; sub(/^[^:]*:[ \t]*/, "", val)
                    if (key == "types") types = val
                    else if (key == "uris") uris = val
                    else if (key == "suites") suites = val
                    else if (key == "enabled") enabled = tolower(val)
                }
                if (enabled == "no" || (" " types " ") !~ / deb /) next
                if ((" " suites " ") !~ (" " s " ")) next
                split(uris, u, /[ \t]+/); print u[1]
            }' "$f"
    done
}

mirror="$( { from_one_line_lists; from_deb822_sources; } | head -n 1)"
[ -n "$mirror" ] || { echo "no Debian mirror for '$codename' in the apt sources; set DEBIAN_MIRROR" >&2; exit 1; }
echo "$mirror"
