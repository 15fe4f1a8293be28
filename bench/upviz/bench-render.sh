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

# run NAME W H CMD...: runs CMD | wc -c, prints "frames seconds cpu_seconds".
measure() {
  local w=$1 h=$2; shift 2
  local start end bytes cpu
  start=$(date +%s.%N)
  # CPU time of the renderer and its children, from bash's `times`.
  bytes=$( { "$@" | wc -c; } 2>/dev/null )
  end=$(date +%s.%N)
  awk -v b="$bytes" -v w="$w" -v h="$h" -v s="$start" -v e="$end" \
    'BEGIN { printf "%d %.2f\n", b / (w * h * 3), e - s }'
}

printf '%-10s %-8s %8s %9s %8s\n' resolution program frames seconds fps
for res in 1920x1080 1280x720; do
  w=${res%x*}; h=${res#*x}
  read -r uf us < <(measure "$w" "$h" "$upviz" render "$log" "-$res" -s "$spd" -o - --no-progress)
  ufps=$(awk -v f="$uf" -v s="$us" 'BEGIN { printf "%.1f", f / s }')
  printf '%-10s %-8s %8d %9.2f %8s\n' "$res" upviz "$uf" "$us" "$ufps"
  if [ "$have_gource" = 1 ]; then
    read -r gf gs < <(measure "$w" "$h" xvfb-run -a -s "-screen 0 ${w}x${h}x24" \
      gource "$log" --log-format custom "-$res" -s "$spd" --stop-at-end -r 60 -o -)
    gfps=$(awk -v f="$gf" -v s="$gs" 'BEGIN { printf "%.1f", (s > 0 ? f / s : 0) }')
    printf '%-10s %-8s %8d %9.2f %8s\n' "$res" gource "$gf" "$gs" "$gfps"
    awk -v u="$ufps" -v g="$gfps" -v r="$res" 'BEGIN { if (g > 0) printf "%-10s ratio    upviz/gource = %.2fx\n", r, u / g }'
  else
    printf '%-10s %-8s %s\n' "$res" gource "skipped: install gource and xvfb to compare"
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
