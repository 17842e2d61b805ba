-- wrk script for benchmarks/encrypt.py.
--
-- Two modes, chosen at load time because wrk decides once, right after loading the script,
-- whether requests are static or come from a request() function:
--   * MAMORI_WRK_REPLAY_DIR set: replay precomputed raw HTTP requests. Thread i reads
--     DIR/requests.<i> (NUL-separated), so threads own disjoint slices and, walking forward,
--     send every request at most once: the server rejects a reused signature nonce.
--     MAMORI_WRK_THREADS must be wrk's --threads (see the start barrier below).
--   * unset: wrk's own static request for the URL (the /health baseline). No request()
--     function, so the baseline pays no Lua cost per request.
-- Both modes define response() so both pay the same body-handling cost in wrk, and done()
-- prints one machine-readable line that encrypt.py parses.

local replay_dir = os.getenv("MAMORI_WRK_REPLAY_DIR")
local thread_count = tonumber(os.getenv("MAMORI_WRK_THREADS") or "1")
local max_samples = 3

-- Main state: hand each thread its slice number and keep the handles for done().
local threads = {}

function setup(thread)
  thread:set("slice", #threads)
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state; these are its globals).
slice = nil
loaded = 0
sent = 0
overflow = 0
non200 = 0
bad_status = nil
bad_body = nil
samples = {}

local requests = nil

function init(args)
  if not replay_dir then
    return
  end
  local path = replay_dir .. "/requests." .. slice
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  requests = {}
  local pos = 1
  while true do
    local stop = string.find(data, "\0", pos, true)
    if not stop then
      break
    end
    requests[#requests + 1] = string.sub(data, pos, stop - 1)
    pos = stop + 1
  end
  loaded = #requests
  -- Drop the big blob now: the slices together can be hundreds of MB.
  data = nil
  collectgarbage()
  if slice == thread_count - 1 then
    -- Start barrier, see request(). wrk runs each thread's init() in its main thread and
    -- starts that thread at once, but starts its clock only after the last init(); loading
    -- a slice takes ~0.5 s, so without the barrier thread 0 would send requests that count
    -- in the total but not in the duration, inflating req/s.
    local ready = assert(io.open(replay_dir .. "/ready", "w"))
    ready:close()
  end
end

local function wait_for_all_slices()
  while true do
    local ready = io.open(replay_dir .. "/ready", "r")
    if ready then
      ready:close()
      return
    end
    os.execute("sleep 0.002")
  end
end

if replay_dir then
  -- wrk calls thread 0's request() once from its main thread, right after thread 0's init(),
  -- to check that the request parses (script_verify_request); waiting there would deadlock,
  -- since the last init() has not run yet. That request is never sent, so it is just skipped.
  local first_sending_call = 1
  function request()
    if sent + 1 == first_sending_call then
      if slice == 0 and first_sending_call == 1 then
        first_sending_call = 2
      else
        -- Blocks this thread's event loop before its first request; wrk stamps a request's
        -- start after request() returns, so the wait is not counted as latency.
        wait_for_all_slices()
      end
    end
    sent = sent + 1
    if sent <= loaded then
      return requests[sent]
    end
    -- Out of precomputed requests: resend the last one. The server rejects the reused nonce,
    -- so the run shows non-2xx responses, and encrypt.py reports the overflow explicitly.
    overflow = overflow + 1
    return requests[loaded]
  end
end

function response(status, headers, body)
  if status == 200 then
    if #samples < max_samples then
      samples[#samples + 1] = body
    end
  else
    non200 = non200 + 1
    if not bad_status then
      bad_status = status
      bad_body = body
    end
  end
end

local function json_string(value)
  if value == nil then
    return "null"
  end
  -- Bytes past ASCII too: instance API answers are protobuf, and this line must stay JSON.
  local escaped = string.gsub(tostring(value), '[%c"\\\128-\255]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. escaped .. '"'
end

function done(summary, latency, requests_stats)
  local total_overflow, total_non200, loaded_total = 0, 0, 0
  local sample_list, bad_list = {}, {}
  for _, thread in ipairs(threads) do
    total_overflow = total_overflow + (thread:get("overflow") or 0)
    total_non200 = total_non200 + (thread:get("non200") or 0)
    loaded_total = loaded_total + (thread:get("loaded") or 0)
    for _, body in ipairs(thread:get("samples") or {}) do
      sample_list[#sample_list + 1] = json_string(body)
    end
    local status = thread:get("bad_status")
    if status then
      bad_list[#bad_list + 1] = string.format(
        '{"status":%d,"body":%s}', status, json_string(thread:get("bad_body"))
      )
    end
  end
  local errors = summary.errors
  io.write(
    "MAMORI_WRK_RESULT ",
    string.format(
      '{"duration_us":%d,"requests":%d,"bytes":%d,'
        .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,'
        .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
        .. '"non2xx":%d,"non200":%d,"overflow":%d,"loaded":%d,'
        .. '"samples":[%s],"bad":[%s]}\n',
      summary.duration,
      summary.requests,
      summary.bytes,
      latency:percentile(50),
      latency:percentile(90),
      latency:percentile(99),
      latency.max,
      latency.mean,
      errors.connect,
      errors.read,
      errors.write,
      errors.timeout,
      errors.status,
      total_non200,
      total_overflow,
      loaded_total,
      table.concat(sample_list, ","),
      table.concat(bad_list, ",")
    )
  )
end
