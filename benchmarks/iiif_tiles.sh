#!/usr/bin/env bash
# IIIF tile throughput: Shuying's server beside IIPImage, on the same pyramid, in the same run.
#
#   benchmarks/iiif_tiles.sh            (needs: apt-get install iipimage-server lighttpd wrk)
#
# One 6000x8000 synthetic woodblock page is written as our access images are: a
# JPEG-compressed, 256-px tiled pyramidal TIFF. Both servers listen on 127.0.0.1 with
# the same number of processes (one per core): ours as `shuying serve --workers N`,
# IIPImage as N FastCGI processes behind lighttpd. wrk (2 threads, 32 connections,
# 20 s) cycles through every 256-px tile at scale factors 1 and 2 (960 tiles): Image
# API 3 paths for ours, the 2.x form of the same regions and sizes for IIPImage.
#
#   cold   servers just (re)started: our tile cache folder empty, IIPImage's memory cache
#          empty (the OS page cache is not dropped: the machine is shared)
#   warm   the same again straight after, caches full
#   uncached  both servers restarted with their tile caches off (UNCACHED=0 skips this)
#   shifted   uncached, every region moved by half a tile so that each request decodes
#             four stored tiles and encodes a new JPEG in both servers (no stored-tile path)
#
# Prints tiles/s, p50 and p99 latency, failed requests and the servers' RSS (summed over
# each server's processes) before and after each run. Environment: DURATION (20),
# PROCS (nproc), THREADS (2), CONNECTIONS (32), KEEP=1 keeps the work folder.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$REPO/.venv/bin/python"
LUA="$REPO/benchmarks/iiif_tiles.lua"
DURATION="${DURATION:-20}"
PROCS="${PROCS:-$(nproc)}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
OUR_PORT="${OUR_PORT:-18182}"
IIP_PORT="${IIP_PORT:-18183}"
IIPSRV=/usr/lib/iipimage-server/iipsrv.fcgi
WORK="$(mktemp -d /tmp/iiif-tiles.XXXXXX)"
OUR_PID=""
IIP_PID=""

for tool in wrk lighttpd "$IIPSRV" "$PY"; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install iipimage-server lighttpd wrk; make setup)" >&2; exit 2; }
done

stop() {  # stop a server we started: its whole process group
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

cleanup() {
  stop "$OUR_PID"
  stop "$IIP_PID"
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

rss_mib() {  # resident memory of a process and all its descendants, MiB
  ps -e -o pid=,ppid=,rss= | awk -v root="$1" '
    { parent[$1] = $2; rss[$1] = $3 }
    END { total = 0
          for (p in rss) { q = p; while (q != "" && q != 0 && q != root) q = parent[q]; if (q == root) total += rss[p] }
          printf "%.0f", total / 1024 }'
}

wait_for() {  # wait until a URL answers 200
  for _ in $(seq 300); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null || true)" = 200 ]; then return 0; fi
    sleep 0.1
  done
  echo "no answer from $1" >&2; return 1
}

make_pyramid_and_tile_lists() {
  "$PY" - "$WORK" <<'EOF'
import json, math, sys
from pathlib import Path
import numpy as np, pyvips
sys.path.insert(0, ".")
from pipeline.access import TILE_SIZE, write_pyramid
from pipeline.synthetic import render_vertical_page, sample_text_for_page

work = Path(sys.argv[1])
width, height = 6000, 8000
page = render_vertical_page(sample_text_for_page(3, 200), width=width, height=height, seal=True, noise=0.01, seed=11)
item = work / "home" / "publish" / "bench"
(item / "images").mkdir(parents=True)
write_pyramid(pyvips.Image.new_from_array(np.asarray(page.image.convert("RGB")), interpretation="srgb"),
              item / "images" / "p0001.tif")
(item / "access.json").write_text(json.dumps({"access_level": "public"}))
(work / "iip").mkdir()
(work / "iip" / "bench.tif").hardlink_to(item / "images" / "p0001.tif")
for name, shift in (("", 0), ("-shifted", TILE_SIZE // 2)):  # shifted: every region straddles 4 stored tiles
    ours, iip = [], []
    for factor in (1, 2):
        span = TILE_SIZE * factor
        for y in range(shift * factor, height, span):
            for x in range(shift * factor, width, span):
                w, h = min(span, width - x), min(span, height - y)
                ow, oh = math.ceil(w / factor), math.ceil(h / factor)
                ours.append(f"/iiif/3/bench~p0001/{x},{y},{w},{h}/{ow},{oh}/0/default.jpg")
                iip.append(f"/fcgi-bin/iipsrv.fcgi?IIIF=bench.tif/{x},{y},{w},{h}/{ow},/0/default.jpg")
    (work / f"ours{name}.txt").write_text("\n".join(ours) + "\n")
    (work / f"iip{name}.txt").write_text("\n".join(iip) + "\n")
tiles = len((work / "ours.txt").read_text().split())
print(f"pyramid {width}x{height}: {(item / 'images' / 'p0001.tif').stat().st_size / 2**20:.1f} MiB, {tiles} tiles")
EOF
}

write_lighttpd_conf() {
  mkdir -p "$WORK/www"
  cat > "$WORK/lighttpd.conf" <<EOF
server.modules = ("mod_fastcgi")
server.document-root = "$WORK/www"
server.bind = "127.0.0.1"
server.port = $IIP_PORT
server.errorlog = "$WORK/lighttpd.log"
server.max-connections = 1024
fastcgi.server = ( "/fcgi-bin/iipsrv.fcgi" => ((
  "socket" => "$WORK/iipsrv.sock",
  "bin-path" => "$IIPSRV",
  "min-procs" => $PROCS,
  "max-procs" => $PROCS,
  "check-local" => "disable",
  "bin-environment" => (
    "LOGFILE" => "$WORK/iipsrv.log",
    "VERBOSITY" => "0",
    "FILESYSTEM_PREFIX" => "$WORK/iip/",
    "MAX_IMAGE_CACHE_SIZE" => "64",
    "JPEG_QUALITY" => "85",
    "CORS" => "*"
  )
)))
EOF
}

start_servers() {  # start_servers [uncached]: both servers, fresh, with empty caches
  local conf="$WORK/lighttpd.conf"
  rm -rf "$WORK/home/cache"
  if [ "${1:-}" = uncached ]; then  # every request renders: tile caches off in both servers
    (cd "$REPO" && exec setsid "$PY" -c "
import sys
from iiif_server.config import ServerOptions
from iiif_server.serve import serve
from storage_config.settings import load_settings
settings = load_settings(environ={}, home=sys.argv[1])
serve(settings, host='127.0.0.1', port=int(sys.argv[2]), workers=int(sys.argv[3]),
      options=ServerOptions(cache_max_bytes=0, memory_cache_bytes=0))" "$WORK/home" "$OUR_PORT" "$PROCS" \
      >"$WORK/ours.log" 2>&1) &
    OUR_PID=$!
    conf="$WORK/lighttpd-uncached.conf"
    sed 's/"MAX_IMAGE_CACHE_SIZE" => "64"/"MAX_IMAGE_CACHE_SIZE" => "0"/' "$WORK/lighttpd.conf" > "$conf"
  else
    (cd "$REPO" && exec setsid "$PY" cli.py --home "$WORK/home" serve --host 127.0.0.1 --port "$OUR_PORT" \
        --workers "$PROCS" >"$WORK/ours.log" 2>&1) &
    OUR_PID=$!
  fi
  setsid lighttpd -D -f "$conf" >"$WORK/lighttpd.out" 2>&1 &
  IIP_PID=$!
  wait_for "http://127.0.0.1:$OUR_PORT/iiif/3/bench~p0001/info.json"
  wait_for "http://127.0.0.1:$IIP_PORT/fcgi-bin/iipsrv.fcgi?IIIF=bench.tif/info.json"
}

run() {  # run NAME PHASE PID PORT LIST
  local name="$1" phase="$2" pid="$3" port="$4" list="$5" before after line
  before="$(rss_mib "$pid")"
  line="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s "$LUA" "http://127.0.0.1:$port" -- "$list" \
          | grep '^RESULT')"
  after="$(rss_mib "$pid")"
  echo "$line" | awk -v name="$name" -v phase="$phase" -v before="$before" -v after="$after" '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%-9s %-8s %9.0f %9.1f %9.1f %8d %7d -> %-6d\n", name, phase, v["requests"] / (v["duration_us"] / 1e6),
           v["p50_us"] / 1000, v["p99_us"] / 1000, v["bad_status"] + v["socket_errors"], before, after }'
}

cd "$REPO"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 2^20}' /proc/meminfo); server processes: $PROCS each"
echo "wrk: $THREADS threads, $CONNECTIONS connections, ${DURATION} s per run"
make_pyramid_and_tile_lists
write_lighttpd_conf
start_servers
# Both servers must give the same image for the same tile.
for server in "$OUR_PORT ours" "$IIP_PORT iip"; do
  set -- $server
  curl -sf "http://127.0.0.1:$1$(sed -n 100p "$WORK/$2.txt")" -o "$WORK/check-$2.jpg"
done
"$PY" -c "import pyvips, sys; a, b = (pyvips.Image.new_from_file(p) for p in sys.argv[1:]); \
assert (a.width, a.height) == (b.width, b.height), (a.width, a.height, b.width, b.height); \
print(f'tile 100: both {a.width}x{a.height}, mean abs difference {(a - b).abs().avg():.2f} of 255')" \
  "$WORK/check-ours.jpg" "$WORK/check-iip.jpg"
stop "$OUR_PID"; stop "$IIP_PID"; OUR_PID=""; IIP_PID=""

printf "\n%-9s %-8s %9s %9s %9s %8s %s\n" server cache "tiles/s" "p50 ms" "p99 ms" failed "RSS MiB before -> after"
start_servers
run shuying cold "$OUR_PID" "$OUR_PORT" "$WORK/ours.txt"
run shuying warm "$OUR_PID" "$OUR_PORT" "$WORK/ours.txt"
run iipimage cold "$IIP_PID" "$IIP_PORT" "$WORK/iip.txt"
run iipimage warm "$IIP_PID" "$IIP_PORT" "$WORK/iip.txt"
stop "$OUR_PID"; stop "$IIP_PID"; OUR_PID=""; IIP_PID=""
if [ "${UNCACHED:-1}" = 1 ]; then
  start_servers uncached
  run shuying uncached "$OUR_PID" "$OUR_PORT" "$WORK/ours.txt"
  run iipimage uncached "$IIP_PID" "$IIP_PORT" "$WORK/iip.txt"
  run shuying shifted "$OUR_PID" "$OUR_PORT" "$WORK/ours-shifted.txt"
  run iipimage shifted "$IIP_PID" "$IIP_PORT" "$WORK/iip-shifted.txt"
fi
