-- wrk script for bench/run.sh, part (c): manifest GET or HEAD by tag.
-- Environment: WRK_METHOD (GET or HEAD, default GET), WRK_TOKEN (sent as a Bearer token when
-- set; empty for the registry, which runs without auth). Prints one machine-readable line.

local method = os.getenv("WRK_METHOD") or "GET"
local token = os.getenv("WRK_TOKEN") or ""

wrk.method = method
wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f"
      .. " non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
