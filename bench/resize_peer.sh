#!/usr/bin/env bash
# Peer comparison for the resize benchmarks (bench/resize_test.go):
# zoomdiff's MATLAB-style bicubic against ImageMagick's Catmull-Rom filter
# (the same a = -0.5 cubic, also widened when shrinking) on the same
# 2048x2048 RGB file, x0.25 and x4, both limited to two threads.
#
# Usage: bench/resize_peer.sh [rounds]    (default 5)
#
# The machine is shared, so each side runs once per round, interleaved, and
# the best round of each is kept; CPU time (user+sys, all threads) is
# reported beside wall time because it is far less sensitive to neighbours.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Debian's ImageMagick policy caps the pixel cache at 256 MiB, which sends
# the 8192x8192 result to a disk cache and would time the disk (minutes).
# Lift the caps for these runs only, through a private policy file.
cat >"$tmp/policy.xml" <<'EOF'
<policymap>
  <policy domain="resource" name="memory" value="8GiB"/>
  <policy domain="resource" name="map" value="8GiB"/>
  <policy domain="resource" name="area" value="1GP"/>
  <policy domain="resource" name="disk" value="16GiB"/>
</policymap>
EOF
export MAGICK_CONFIGURE_PATH="$tmp" OMP_NUM_THREADS=2 GOMAXPROCS=2

# A deterministic test picture, and ImageMagick's native pixel-cache copy of
# it, which loads almost for free, so that its timings are of the resize and
# not of PNG decoding (a no-op run is subtracted as well).
convert -size 2048x2048 -seed 7 plasma:fractal -depth 8 -type TrueColor "$tmp/in.png"
convert "$tmp/in.png" "$tmp/in.mpc"
go test -c -o "$tmp/bench.test" ./bench

# time CMD... prints "wall cpu" in seconds.
time_cmd() {
  /usr/bin/time -f '%e %U %S' -o "$tmp/t" "$@" >/dev/null 2>&1
  awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$tmp/t"
}

: >"$tmp/results"
for r in $(seq "$rounds"); do
  read -r bw bc < <(time_cmd convert "$tmp/in.mpc" null:)
  read -r dw dc < <(time_cmd convert "$tmp/in.mpc" -filter Catrom -resize 512x512 null:)
  read -r uw uc < <(time_cmd convert "$tmp/in.mpc" -filter Catrom -resize 8192x8192 null:)
  awk -v bw="$bw" -v bc="$bc" -v dw="$dw" -v dc="$dc" -v uw="$uw" -v uc="$uc" 'BEGIN {
    printf "magick down %.4f %.4f\n", dw - bw, dc - bc
    printf "magick up %.4f %.4f\n", uw - bw, uc - bc }' >>"$tmp/results"
  ZOOMDIFF_BENCH_IMAGE="$tmp/in.png" "$tmp/bench.test" -test.run '^$' \
    -test.bench 'ResizeBicubic(Down4|Up4)$' -test.benchtime 3x |
    awk '/^BenchmarkResizeBicubicDown4/ { printf "zoomdiff down %.4f %.4f\n", $3 / 1e9, $7 }
         /^BenchmarkResizeBicubicUp4/   { printf "zoomdiff up %.4f %.4f\n", $3 / 1e9, $7 }' >>"$tmp/results"
done

# Best of the rounds for each tool and workload; MP/s of output.
awk '
  { k = $1 " " $2; if (!(k in w) || $3 < w[k]) w[k] = $3; if (!(k in c) || $4 < c[k]) c[k] = $4 }
  END {
    mp["down"] = 512 * 512 / 1e6; mp["up"] = 8192 * 8192 / 1e6
    printf "%-6s %-9s %10s %8s %10s\n", "resize", "tool", "wall s", "MP/s", "cpu s"
    n = split("down up", ws, " ")
    for (i = 1; i <= n; i++) {
      x = ws[i]
      for (t = 1; t <= 2; t++) {
        tool = (t == 1) ? "magick" : "zoomdiff"; k = tool " " x
        printf "%-6s %-9s %10.3f %8.1f %10.3f\n", (x == "down" ? "x0.25" : "x4"), tool, w[k], mp[x] / w[k], c[k]
      }
      printf "%-6s ratio magick/zoomdiff: wall %.2f, cpu %.2f (above 1: zoomdiff faster)\n", (x == "down" ? "x0.25" : "x4"),
        w["magick " x] / w["zoomdiff " x], c["magick " x] / c["zoomdiff " x]
    }
  }' "$tmp/results"
