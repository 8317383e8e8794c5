#!/usr/bin/env bash
# Build the collection tarball (docker_hardening-userns-VERSION.tar.gz) from the files git
# tracks, as they are in the work tree:
#
#   tools/build-collection.sh [OUTDIR]     (default build/collection); prints the tarball's path
#
# galaxy.yml names no `repository`: the project has no public address yet. Galaxy and
# galaxy-importer require one; to publish, set COLLECTION_REPOSITORY=URL and it is written into
# the built copy's galaxy.yml.
#
# `ansible-galaxy collection build .` would pack every file in the work tree that galaxy.yml's
# build_ignore does not name, untracked ones too (a .hypothesis/ cache was packed once). Copying
# only `git ls-files` into a scratch directory first makes that impossible; build_ignore then
# leaves out what only the tests and development use. Symlinks stay symlinks (the role's
# library/ and files/ link inside the collection).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v ansible-galaxy >/dev/null || use_venv

OUT="${1:-$PROJECT_ROOT/build/collection}"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT

# A tracked file deleted in the work tree is left out (--ignore-failed-read), as git would.
git -C "$PROJECT_ROOT" ls-files -z \
    | (cd "$PROJECT_ROOT" && tar --null --files-from=- --ignore-failed-read --create --file=-) \
    | tar -C "$STAGE" --extract --file=-
if [ -n "${COLLECTION_REPOSITORY:-}" ]; then
    printf 'repository: %s\n' "$COLLECTION_REPOSITORY" >> "$STAGE/galaxy.yml"
fi
mkdir -p "$OUT"
built="$(ansible-galaxy collection build --force --output-path "$OUT" "$STAGE")"
tarball="$(sed -n 's/^Created collection for .* at //p' <<<"$built")"
[ -f "$tarball" ] || die "ansible-galaxy did not report a tarball: $built"
echo "$tarball"
