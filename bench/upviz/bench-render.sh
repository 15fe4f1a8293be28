#!/usr/bin/env bash
# Frames per second of `upviz render` against `gource` (under xvfb-run, since
# gource needs an OpenGL display) on the same log, both writing a PPM stream
# into the same pipe consumer. Prints a table and the ratio; gource's rows
# are skipped when gource or xvfb-run is missing.
#
#   bench/upviz/bench-render.sh [--lines N] [--seconds-per-day S] [--upviz PATH] [--memory]
#
# --memory also renders a one-million-line log and reports the peak RSS.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
upviz="$root/build/release/src/upviz/upviz"
lines=4000
spd=0.5
memory=0
while [ $# -gt 0 ]; do
  case "$1" in
    --lines) lines=$2; shift 2 ;;
    --seconds-per-day) spd=$2; shift 2 ;;
    --upviz) upviz=$2; shift 2 ;;
    --memory) memory=1; shift ;;
    *) echo "usage: $0 [--lines N] [--seconds-per-day S] [--upviz PATH] [--memory]" >&2; exit 2 ;;
  esac
done
if [ ! -x "$upviz" ]; then
  echo "bench-render: building $upviz (release preset)" >&2
  (cd "$root" && cmake --preset release >/dev/null && cmake --build --preset release --target upviz >/dev/null)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log="$work/bench.log"
"$here/gen-log.sh" "$lines" > "$log"

have_gource=0
if command -v gource >/dev/null && command -v xvfb-run >/dev/null; then have_gource=1; fi

# measure W H CMD...: runs CMD | wc -c and prints "frames wall_seconds cpu_seconds"
# (cpu: user+system of CMD and its children, 0 without /usr/bin/time).
measure() {
  local w=$1 h=$2; shift 2
  local start end bytes cpu=0
  start=$(date +%s.%N)
  if [ -x /usr/bin/time ]; then
    bytes=$( { /usr/bin/time -f '%U %S' -o "$work/cpu" "$@" | wc -c; } 2>/dev/null )
    cpu=$(awk '{ print $1 + $2 }' "$work/cpu")
  else
    bytes=$( { "$@" | wc -c; } 2>/dev/null )
  fi
  end=$(date +%s.%N)
  awk -v b="$bytes" -v w="$w" -v h="$h" -v s="$start" -v e="$end" -v c="$cpu" \
    'BEGIN { printf "%d %.2f %.2f\n", b / (w * h * 3), e - s, c }'
}

row() {  # resolution program frames wall cpu
  awk -v r="$1" -v p="$2" -v f="$3" -v s="$4" -v c="$5" 'BEGIN {
    printf "%-10s %-7s %7d %8.2f %8.1f %8.2f %9.1f\n", r, p, f, s, (s > 0 ? f / s : 0), c, (c > 0 ? f / c : 0) }'
}

printf '%-10s %-7s %7s %8s %8s %8s %9s\n' resolution program frames wall_s fps cpu_s frames/cpu_s
for res in 1920x1080 1280x720; do
  w=${res%x*}; h=${res#*x}
  read -r uf us uc < <(measure "$w" "$h" "$upviz" render "$log" "-$res" -s "$spd" -o - --no-progress)
  row "$res" upviz "$uf" "$us" "$uc"
  if [ "$have_gource" = 1 ]; then
    read -r gf gs gc < <(measure "$w" "$h" xvfb-run -a -s "-screen 0 ${w}x${h}x24" \
      gource "$log" --log-format custom "-$res" -s "$spd" --stop-at-end -r 60 -o -)
    row "$res" gource "$gf" "$gs" "$gc"
    awk -v uf="$uf" -v us="$us" -v uc="$uc" -v gf="$gf" -v gs="$gs" -v gc="$gc" -v r="$res" 'BEGIN {
      if (gf > 0 && gs > 0) {
        printf "%-10s ratio   upviz/gource fps = %.2fx", r, (uf / us) / (gf / gs)
        if (uc > 0 && gc > 0) printf ", per CPU second = %.2fx", (uf / uc) / (gf / gc)
        printf "\n" } }'
  else
    printf '%-10s %-7s %s\n' "$res" gource "skipped: install gource and xvfb to compare"
  fi
done
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; both programs pipe PPM into wc -c)"

if [ "$memory" = 1 ]; then
  "$here/gen-log.sh" 1000000 > "$work/1m.log"
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%M %e' -o "$work/time" "$upviz" render "$work/1m.log" -1280x720 -s 0.01 -o - --no-progress | wc -c > "$work/bytes"
    read -r kib secs < "$work/time"
    frames=$(( $(cat "$work/bytes") / (1280 * 720 * 3) ))
    printf 'memory: 1,000,000 lines at 1280x720: %d frames in %ss, peak RSS %d MiB\n' "$frames" "$secs" $((kib / 1024))
  else
    echo "memory: skipped, /usr/bin/time (Debian package time) is missing"
  fi
fi
