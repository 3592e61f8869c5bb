#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS (default 600) one after the other, then minimises
# each corpus. Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Usage: scripts/fuzz-all.sh [SECONDS] [TARGET...]
# Logs go to fuzz/logs/<target>.log (not committed); crashes land in fuzz/artifacts/<target>/:
# copy each into fuzz/regressions/<target>/ once fixed, so `cargo test` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(packet_reader authorization_header jwt_verification url_template)
fi
mkdir -p fuzz/logs
for target in "${targets[@]}"; do
  echo "== $target: ${seconds}s"
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -max_len=40000 \
    -print_final_stats=1 > "fuzz/logs/$target.log" 2>&1 || {
    echo "$target failed: see fuzz/logs/$target.log"; tail -30 "fuzz/logs/$target.log"; exit 1; }
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)" "fuzz/logs/$target.log" || true
  cargo +nightly fuzz cmin "$target" > "fuzz/logs/$target.cmin.log" 2>&1
  echo "corpus files after cmin: $(find "fuzz/corpus/$target" -type f | wc -l)"
done
