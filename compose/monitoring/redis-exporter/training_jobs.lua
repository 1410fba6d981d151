-- Training jobs by state among the newest 500 (the jobs index is a sorted set; each job a JSON string), read by
-- redis_exporter's --script on every scrape: Prometheus sees redis_script_values{key="training_jobs_<state>"}.
local counts = {queued = 0, running = 0, succeeded = 0, failed = 0}
local ids = redis.call("ZREVRANGE", "training:jobs", 0, 499)
for _, id in ipairs(ids) do
  local raw = redis.call("GET", "training:job:" .. id)
  if raw then
    local ok, job = pcall(cjson.decode, raw)
    if ok and type(job) == "table" and counts[job.state] ~= nil then
      counts[job.state] = counts[job.state] + 1
    end
  end
end
return {
  "training_jobs_queued", tostring(counts.queued),
  "training_jobs_running", tostring(counts.running),
  "training_jobs_succeeded", tostring(counts.succeeded),
  "training_jobs_failed", tostring(counts.failed),
}
