-- wrk script of the checkout benchmark (bench/checkout.sh): every request checks out a
-- different prepared cart. BENCH_TOKENS names the file bench/gen_checkout.py wrote, one line
-- "<access token> <address id>" per user; this run uses lines BENCH_FIRST..BENCH_LAST (1-based,
-- inclusive; BENCH_LAST 0: to the end), thread i of BENCH_WRK_THREADS taking every line whose
-- offset is i modulo the thread count, so no two requests ever share a cart.
-- BENCH_SURFACE: shop (POST /api/orders/checkout/ with the user's address_id and a payment
-- that succeeds) or v1 (POST /api/v1/cart/checkout/ with the address as text).
-- A thread that has used up its lines keeps sending requests with a token no server accepts:
-- they fail (401) and are counted as "exhausted", so a run out of carts says so.
-- done() prints "checkout: ..." lines: responses by status, exhausted requests, and the first
-- unexpected response of each thread.
local tokens_path = os.getenv("BENCH_TOKENS")
local first = tonumber(os.getenv("BENCH_FIRST") or "1")
local last = tonumber(os.getenv("BENCH_LAST") or "0")
local nthreads = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
local surface = os.getenv("BENCH_SURFACE") or "shop"

local path, body_format
if surface == "v1" then
   path = "/api/v1/cart/checkout/"
   local address = "12 Bench Street, Anytown, Anystate 123456, India"
   body_format = string.format(
      '{"shipping_address":"%s","billing_address":"%s","clear_cart":true}', address, address)
else
   path = "/api/orders/checkout/"
   body_format = '{"address_id":%s,"payment_data":{"simulate_failure":false}}'
end

-- main state: the threads, for done()
local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

-- thread state
local tokens, addresses, n, pos = {}, {}, 0, 1
counts, exhausted, sample = {}, 0, ""

function init(args)
   local f = assert(io.open(assert(tokens_path, "set BENCH_TOKENS"), "r"))
   local line_no = 0
   for line in f:lines() do
      line_no = line_no + 1
      if line_no >= first and (last == 0 or line_no <= last) and
         (line_no - first) % nthreads == thread_index then
         local token, address = line:match("^(%S+) (%d+)$")
         n = n + 1
         tokens[n], addresses[n] = token, address
      end
   end
   f:close()
end

function request()
   local token, body
   if pos <= n then
      token = tokens[pos]
      body = surface == "v1" and body_format or string.format(body_format, addresses[pos])
      pos = pos + 1
   else
      exhausted = exhausted + 1
      token = "out-of-prepared-carts"
      body = surface == "v1" and body_format or string.format(body_format, 0)
   end
   return wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. token,
   }, body)
end

function response(status, headers, body)
   counts[status] = (counts[status] or 0) + 1
   if status ~= 201 and sample == "" then
      sample = status .. " " .. string.sub(body or "", 1, 300)
   end
end

function done(summary, latency, requests)
   local total, used, total_exhausted, samples = {}, 0, 0, {}
   for _, t in ipairs(threads) do
      for status, c in pairs(t:get("counts")) do
         total[status] = (total[status] or 0) + c
      end
      total_exhausted = total_exhausted + t:get("exhausted")
      local s = t:get("sample")
      if s ~= "" then
         table.insert(samples, s)
      end
   end
   local statuses = {}
   for status, c in pairs(total) do
      table.insert(statuses, status .. "=" .. c)
   end
   table.sort(statuses)
   io.write("checkout: statuses " .. table.concat(statuses, " ") .. "\n")
   io.write("checkout: exhausted " .. total_exhausted .. "\n")
   for _, s in ipairs(samples) do
      io.write("checkout: first unexpected response: " .. s:gsub("[\r\n]", " ") .. "\n")
   end
end
