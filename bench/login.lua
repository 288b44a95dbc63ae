-- wrk script: every request is POST /api/v1/auth/login/ with the benchmark
-- user's credentials (BENCH_EMAIL, BENCH_PASSWORD from the environment). A
-- refused login (400) shows in wrk's "Non-2xx or 3xx responses" line.
local email = os.getenv("BENCH_EMAIL") or "bench@example.com"
local password = os.getenv("BENCH_PASSWORD") or "Analytical-Engine-1843"

wrk.method = "POST"
wrk.path = "/api/v1/auth/login/"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"email":"%s","password":"%s"}', email, password)
