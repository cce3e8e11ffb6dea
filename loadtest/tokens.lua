-- wrk script for loadtest/load.sh: every request carries the next of many valid
-- tokens (one per line in $TOKENS_FILE), cycling, so each user comes back once
-- every N requests, as 10k distinct users would.
-- Beside the token, each request carries the realistic headers of
-- $HEADERS_FILE ("name: value" per line), as load.py's h2load runs do.
local extra = {}
local headers_path = os.getenv("HEADERS_FILE")
if headers_path then
  for line in io.lines(headers_path) do
    local name, value = line:match("^([^:]+): (.*)$")
    if name then extra[name] = value end
  end
end
local path = os.getenv("TOKENS_FILE") or "tokens.txt"
local requests = {}
for token in io.lines(path) do
  local headers = { ["Host"] = "api.example.com", ["Authorization"] = "Bearer " .. token }
  for name, value in pairs(extra) do headers[name] = value end
  requests[#requests + 1] = wrk.format("GET", "/api/orders/42", headers)
end
assert(#requests > 0, "no tokens in " .. path)
local next_index = 0

-- Start each wrk thread at a different place in the list.
function setup(thread)
  thread:set("offset", math.random(#requests))
end

function init(args)
  next_index = (offset or 0) % #requests
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
