-- wrk: borrow-and-return pairs on the lease pool "users". Each borrow's
-- number is queued and returned by a following request, so requests
-- alternate between POST /pools/users/leases and
-- DELETE /pools/users/leases/N; every one is committed before its answer.
local queue = {}
local borrow = wrk.format("POST", "/pools/users/leases")

request = function()
  local n = table.remove(queue)
  if n then
    return wrk.format("DELETE", "/pools/users/leases/" .. n)
  end
  return borrow
end

response = function(status, headers, body)
  if status == 201 then
    local n = body:match('"number":(%-?%d+)')
    if n then table.insert(queue, n) end
  end
end

done = function(summary, latency, requests)
  local bad = summary.errors.status
  io.write(string.format("non-2xx: %d\n", bad))
end
