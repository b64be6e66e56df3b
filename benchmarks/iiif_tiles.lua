-- wrk script for benchmarks/iiif_tiles.sh: cycle through every tile path listed in a file.
--
--   wrk -t2 -c32 -d20s -s benchmarks/iiif_tiles.lua http://127.0.0.1:8182 -- tiles.txt
--
-- Each thread starts at its own offset in the list, so the threads do not ask for the
-- same tile at the same moment. done() prints one RESULT line for the shell to parse.

local paths = {}
local counter = 0
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local file = assert(io.open(args[1], "r"), "usage: wrk ... -s iiif_tiles.lua URL -- TILE_LIST")
  for line in file:lines() do
    if line ~= "" then paths[#paths + 1] = line end
  end
  file:close()
  counter = (id or 0) * math.floor(#paths / 2)
end

function request()
  counter = counter % #paths + 1
  return wrk.format("GET", paths[counter])
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d bad_status=%d socket_errors=%d bytes=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errors.status,
    errors.connect + errors.read + errors.write + errors.timeout, summary.bytes))
end
