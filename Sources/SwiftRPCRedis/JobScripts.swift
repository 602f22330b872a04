import Redis

/// The Lua scripts that move jobs. Each runs atomically in Redis, so no id is ever in a list
/// without its hash, and two workers or recoverers racing cannot both move the same job.
/// (Scripts that build key names from ids or queue names assume a single Redis, not a cluster.)
///
/// Leases: each start of a job is a delivery with a token of its own, stored in the job's
/// `lease` field while the job is `started`. Finishing, failing, retrying, deferring and
/// requeueing a job all act only while the caller's token is still that field; recovery of a
/// lost delivery clears it. So a delivery that lost the job (its worker was declared dead, or
/// the job went back at the end of a grace period) can never overwrite what came after it.
enum JobScripts {
    /// Every script, for a start-up check that they all compile.
    static var all: [RedisScript] {
        [
            enqueue, take, start, finish, fail, deferJob, promote, recover, sweep, requeue, register, heartbeat, deregister, retryFailed,
            deleteFailed, purgeFailed, trimFailed,
        ]
    }

    /// Enqueues a batch of jobs: those that arrived in one event-loop tick of a front.
    /// KEYS, 4 per job: job, queue list, queues set, scheduled. ARGV, 9 per job: id, func, queue,
    /// args, kwargs, max_attempts, enqueued_at, due time ("" to queue now), traceparent ("" for
    /// none). Returns per job 1 when it was created queued, 2 when created scheduled, {0,
    /// status, queue} when the id existed (nothing written), or {-1, error} when its write
    /// failed (a key of the wrong type); the others are unaffected. The small replies for the
    /// usual cases spare both sides two strings per job; each queue's name goes into the
    /// queues set once per batch. (Building the hash's fields as a table for one `HSET` with
    /// the traceparent cost more than the second `HSET` a traced job needs.)
    static let enqueue = RedisScript(
        """
        local function enqueue(k, a)
          if redis.call('EXISTS', KEYS[k + 1]) == 1 then
            local f = redis.call('HMGET', KEYS[k + 1], 'status', 'queue')
            return {0, f[1] or '', f[2] or ''}
          end
          local status, created = 'queued', 1
          if ARGV[a + 8] ~= '' then status, created = 'scheduled', 2 end
          -- The hash goes last: a write that fails leaves no hash claiming the id (a queued id
          -- without one is dropped when taken), so the caller's retry can create the job.
          if created == 2 then
            redis.call('ZADD', KEYS[k + 4], ARGV[a + 8], ARGV[a + 1])
          else
            redis.call('LPUSH', KEYS[k + 2], ARGV[a + 1])
          end
          redis.call('HSET', KEYS[k + 1], 'id', ARGV[a + 1], 'func', ARGV[a + 2], 'queue', ARGV[a + 3], 'args', ARGV[a + 4],
            'kwargs', ARGV[a + 5], 'status', status, 'attempts', '0', 'max_attempts', ARGV[a + 6], 'enqueued_at', ARGV[a + 7])
          if ARGV[a + 9] ~= '' then redis.call('HSET', KEYS[k + 1], 'traceparent', ARGV[a + 9]) end
          return created
        end
        local replies, queues = {}, {}
        for job = 0, #KEYS / 4 - 1 do
          local ok, reply = pcall(enqueue, job * 4, job * 9)
          if not ok then
            reply = {-1, type(reply) == 'table' and reply.err or tostring(reply)}
          elseif reply ~= 0 and type(reply) ~= 'table' then
            queues[ARGV[job * 9 + 3]] = KEYS[job * 4 + 3]
          end
          replies[job + 1] = reply
        end
        -- The set only lists the queues (for inspection): a key of the wrong type there does not
        -- undo the jobs written above.
        for queue, set in pairs(queues) do
          local ok, err = pcall(redis.call, 'SADD', set, queue)
          if not ok then redis.log(redis.LOG_WARNING, 'swiftrpc enqueue: cannot list queue ' .. queue .. ': ' .. tostring(err.err or err)) end
        end
        return replies
        """)

    /// Timestamps come from the clocks of the front and the workers, which never agree exactly
    /// (they may be other machines). ISO-8601 texts of one format order as strings, so a
    /// later step's time is clamped to at least the earlier step's: enqueued ≤ started ≤ ended.
    private static let notBefore = """
        local function not_before(time, key, field)
          local earlier = redis.call('HGET', key, field)
          if earlier and earlier > time then return earlier end
          return time
        end
        """

    /// Every worker's job outcomes and run times, kept in Redis so that any front's `/metrics`
    /// counts the whole system (SPEC §10): `{prefix}:metrics:jobs` and `{prefix}:metrics:durations`;
    /// and each queue's recently ended jobs for the dashboard, `{prefix}:recent:{queue}`.
    private static let counting = """
        local function note_ended(prefix, queue, ...)
          local key = prefix .. ':recent:' .. queue
          -- Trimmed to 100 once it reaches 150: one command per job instead of two.
          if redis.call('LPUSH', key, ...) >= 150 then redis.call('LTRIM', key, 0, 99) end
        end
        local function count_outcome(prefix, outcome, queue, func, jobs)
          redis.call('HINCRBY', prefix .. ':metrics:jobs', outcome .. ' ' .. queue .. ' ' .. func, jobs or 1)
        end
        -- runs: {duration bucket = how many runs}; microseconds: their total.
        local function count_runs(prefix, func, runs, microseconds)
          for bucket, n in pairs(runs) do redis.call('HINCRBY', prefix .. ':metrics:durations', bucket .. ' ' .. func, n) end
          redis.call('HINCRBY', prefix .. ':metrics:durations', 'sum_us ' .. func, microseconds)
        end
        """

    /// Ends a job `failed` for good: error, TTL, the failed list (trimmed to failed_max), the
    /// worker's counter, the `failed` outcome and the completion notice. `p` holds prefix,
    /// now, failure_ttl, failed_max and channel.
    private static let failForGood = notBefore + "\n" + counting + "\n" + """
        local function fail_for_good(p, id, err, counter)
          local jkey = p.prefix .. ':job:' .. id
          local f = redis.call('HMGET', jkey, 'queue', 'func')
          local queue = f[1]
          count_outcome(p.prefix, 'failed', queue, f[2] or '')
          note_ended(p.prefix, queue, id)
          redis.call('HSET', jkey, 'status', 'failed', 'error', err, 'ended_at', not_before(p.now, jkey, 'started_at'))
          redis.call('HDEL', jkey, 'lease')
          redis.call('EXPIRE', jkey, p.failure_ttl)
          local fkey = p.prefix .. ':failed:' .. queue
          redis.call('LPUSH', fkey, id)
          redis.call('LTRIM', fkey, 0, p.failed_max - 1)
          if counter and redis.call('EXISTS', counter) == 1 then redis.call('HINCRBY', counter, 'jobs_failed', 1) end
          redis.call('PUBLISH', p.channel, id .. ' failed')
        end
        """

    /// A delivery that is gone (its worker died, or the take's reply never arrived): the job
    /// goes back to the head of its queue, or fails with `worker_lost` once it has been started
    /// max_deliveries times. A job that is not held (ended, queued elsewhere, gone) is left as
    /// it is. A started job counts as a `lost` delivery. `p` adds max_deliveries and the
    /// worker_lost error. Returns 1 when it moved the job.
    private static let giveBack = failForGood + "\n" + """
        local function give_back(p, id)
          local jkey = p.prefix .. ':job:' .. id
          local f = redis.call('HMGET', jkey, 'queue', 'status', 'attempts', 'func')
          if not f[1] then return 0 end
          if f[2] == 'started' then count_outcome(p.prefix, 'lost', f[1], f[4] or '') end
          if f[2] == 'started' and tonumber(f[3] or '0') >= p.max_deliveries then
            fail_for_good(p, id, p.lost_error, nil)
            return 1
          end
          if f[2] ~= 'started' and f[2] ~= 'queued' then return 0 end
          redis.call('HSET', jkey, 'status', 'queued')
          redis.call('HDEL', jkey, 'lease', 'worker')
          redis.call('RPUSH', p.prefix .. ':queue:' .. f[1], id)
          return 1
        end
        """

    /// ARGV layout shared by every script that may fail or give back jobs, from `first` on:
    /// prefix, now, failure_ttl, failed_max, channel, max_deliveries, worker_lost error.
    private static func policy(from first: Int) -> String {
        """
        local p = {prefix = ARGV[\(first)], now = ARGV[\(first + 1)], failure_ttl = ARGV[\(first + 2)],
          failed_max = tonumber(ARGV[\(first + 3)]), channel = ARGV[\(first + 4)], max_deliveries = tonumber(ARGV[\(first + 5)]),
          lost_error = ARGV[\(first + 6)]}
        """
    }

    /// Starts the job whose id is `id` (already in the worker's active list) as a delivery
    /// with token `lease`. Only a `queued` job starts: an id whose job has ended, is gone, or
    /// is held by another delivery is dropped from the active list instead. A start removes
    /// any TTL and earlier outcome (a job re-run by `failed retry` keeps its hash). Shared by
    /// `take` and `start`; one read of the hash per job, as each `redis.call` costs.
    private static let startOne = """
        local function start_one(prefix, active, worker, now, id, lease, taken)
          local jkey = prefix .. ':job:' .. id
          local f = redis.call('HMGET', jkey, 'status', 'enqueued_at', 'attempts', 'func', 'queue', 'args', 'kwargs', 'max_attempts',
            'traceparent')
          if f[1] ~= 'queued' then
            redis.call('LREM', active, 1, id)
            return
          end
          -- Clocks differ between machines: a job never starts before it was enqueued.
          local started_at = now
          if f[2] and f[2] > now then started_at = f[2] end
          local attempts = tonumber(f[3] or '0') + 1
          redis.call('PERSIST', jkey)
          redis.call('HDEL', jkey, 'ended_at', 'result')
          redis.call('HSET', jkey, 'status', 'started', 'started_at', started_at, 'worker', worker, 'lease', lease,
            'attempts', tostring(attempts))
          taken[#taken + 1] = {id, f[4] or '', f[5] or '', f[6] or '[]', f[7] or '{}', attempts, f[8] or '1', lease, f[9] or ''}
        end
        """

    /// KEYS: the worker's active list. ARGV: prefix, worker, now, most to take, lease base, queues...
    /// Moves up to `most` ids from the queues (in priority order) into the active list and
    /// starts them, the n-th with lease `{base}-{n}`. Returns
    /// {id, func, queue, args, kwargs, attempts, max_attempts, lease, traceparent} per job.
    static let take = RedisScript(
        startOne + "\n" + """
            local taken = {}
            local most = tonumber(ARGV[4])
            local n = 0
            for i = 6, #ARGV do
              local qkey = ARGV[1] .. ':queue:' .. ARGV[i]
              while #taken < most do
                local id = redis.call('LMOVE', qkey, KEYS[1], 'RIGHT', 'LEFT')
                if not id then break end
                n = n + 1
                start_one(ARGV[1], KEYS[1], ARGV[2], ARGV[3], id, ARGV[5] .. '-' .. n, taken)
              end
            end
            return taken
            """)

    /// KEYS: the worker's active list. ARGV: prefix, worker, now, id (moved there by BLMOVE), lease.
    /// Does nothing when the id is no longer in the active list (a sweep gave it back).
    static let start = RedisScript(
        startOne + "\n" + """
            local taken = {}
            if redis.call('LPOS', KEYS[1], ARGV[4]) then
              start_one(ARGV[1], KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], taken)
            end
            return taken
            """)

    /// Checks that `lease` still holds the job and takes its id off the active list either way.
    private static let holds = """
        local function holds(jkey, active, id, lease)
          redis.call('LREM', active, 1, id)
          return redis.call('HGET', jkey, 'status') == 'started' and redis.call('HGET', jkey, 'lease') == lease
        end
        """

    /// Finishes a batch of one worker's deliveries: those that ended in one event-loop tick.
    /// KEYS: the worker's active list, its hash, then each job's hash. ARGV: prefix, channel,
    /// ended_at, then 8 per job: id, result, result_ttl, lease, queue, func, duration bucket,
    /// microseconds run. A job whose lease still holds is stored `finished` with its TTL and
    /// its waiters are notified; its id leaves the active list either way. Returns per job 1,
    /// 0 when the delivery no longer held it (nothing written), or {-1, error} when its write
    /// failed (the others are unaffected). The batch's runs are counted together at the end.
    static let finish = RedisScript(
        counting + "\n" + """
        local prefix, channel, now = ARGV[1], ARGV[2], ARGV[3]
        local function finish(job, a)
          local jkey, id, result = KEYS[job + 3], ARGV[a + 1], ARGV[a + 2]
          redis.call('LREM', KEYS[1], 1, id)
          local f = redis.call('HMGET', jkey, 'status', 'lease', 'started_at')
          if f[1] ~= 'started' or f[2] ~= ARGV[a + 4] then return 0 end
          -- Clocks differ between machines: a job never ends before it started.
          local ended_at = now
          if f[3] and f[3] > now then ended_at = f[3] end
          redis.call('HSET', jkey, 'status', 'finished', 'result', result, 'ended_at', ended_at)
          redis.call('HDEL', jkey, 'error', 'lease')
          redis.call('EXPIRE', jkey, ARGV[a + 3])
          -- A small result rides along, so a caller waiting with ?wait needs no read.
          if #result <= 4096 then
            redis.call('PUBLISH', channel, id .. ' finished ' .. result)
          else
            redis.call('PUBLISH', channel, id .. ' finished')
          end
          return 1
        end
        local replies, counted = {}, {}
        for job = 0, #KEYS - 3 do
          local a = 3 + job * 8
          local ok, reply = pcall(finish, job, a)
          if not ok then reply = {-1, type(reply) == 'table' and reply.err or tostring(reply)} end
          replies[job + 1] = reply
          if reply == 1 then counted[#counted + 1] = a end
        end
        -- The batch's runs are counted with one command per counter. Counting is not part of
        -- a job's outcome: a counter key of the wrong type is skipped.
        local ok, err = pcall(function()
          local jobs, runs, microseconds, ended = {}, {}, {}, {}
          for _, a in ipairs(counted) do
            local queue, func, bucket = ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
            jobs[queue] = jobs[queue] or {}
            jobs[queue][func] = (jobs[queue][func] or 0) + 1
            runs[func] = runs[func] or {}
            runs[func][bucket] = (runs[func][bucket] or 0) + 1
            microseconds[func] = (microseconds[func] or 0) + tonumber(ARGV[a + 8])
            ended[queue] = ended[queue] or {}
            ended[queue][#ended[queue] + 1] = ARGV[a + 1]
          end
          for queue, funcs in pairs(jobs) do
            for func, n in pairs(funcs) do count_outcome(prefix, 'finished', queue, func, n) end
            note_ended(prefix, queue, unpack(ended[queue]))
          end
          for func, buckets in pairs(runs) do count_runs(prefix, func, buckets, string.format('%d', microseconds[func])) end
          if #counted > 0 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HINCRBY', KEYS[2], 'jobs_finished', #counted) end
        end)
        if not ok then redis.log(redis.LOG_WARNING, 'swiftrpc finish: cannot count runs: ' .. tostring(type(err) == 'table' and err.err or err)) end
        return replies
        """)

    /// KEYS: job, active list, scheduled, worker hash. ARGV: id, error, retry due time ("" when
    /// no retry is left), lease, then the policy (ARGV[5...11]), then queue, func, duration
    /// bucket, microseconds run. Returns 1 when scheduled for a retry, 2 when failed for good, 0
    /// when the delivery no longer holds the job (nothing is written).
    static let fail = RedisScript(
        failForGood + "\n" + holds + "\n" + policy(from: 5) + "\n" + """
        if not holds(KEYS[1], KEYS[2], ARGV[1], ARGV[4]) then return 0 end
        count_runs(p.prefix, ARGV[13], {[ARGV[14]] = 1}, ARGV[15])
        if ARGV[3] ~= '' then
          count_outcome(p.prefix, 'retried', ARGV[12], ARGV[13])
          redis.call('HSET', KEYS[1], 'status', 'retrying', 'error', ARGV[2])
          redis.call('HDEL', KEYS[1], 'lease')
          redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
          return 1
        end
        fail_for_good(p, ARGV[1], ARGV[2], KEYS[4])
        return 2
        """)

    /// KEYS: job, active list, scheduled. ARGV: id, due time, lease, error when it is given
    /// up, then the policy (from ARGV[5]). A job this worker cannot run (its function is
    /// unknown here, e.g. during a rolling deploy) waits in `scheduled` for another worker,
    /// until it has been started max_deliveries times; then it fails with that error.
    /// Returns 1 when deferred, 2 when failed, 0 when the delivery no longer holds the job.
    static let deferJob = RedisScript(
        failForGood + "\n" + holds + "\n" + policy(from: 5) + "\n" + """
        if not holds(KEYS[1], KEYS[2], ARGV[1], ARGV[3]) then return 0 end
        if tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') >= p.max_deliveries then
          fail_for_good(p, ARGV[1], ARGV[4], nil)
          return 2
        end
        redis.call('HSET', KEYS[1], 'status', 'scheduled')
        redis.call('HDEL', KEYS[1], 'lease', 'worker')
        redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
        return 1
        """)

    /// KEYS: scheduled. ARGV: now (Unix seconds), prefix, most. Queues the due jobs.
    static let promote = RedisScript(
        """
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
        for _, id in ipairs(due) do
          redis.call('ZREM', KEYS[1], id)
          local jkey = ARGV[2] .. ':job:' .. id
          local f = redis.call('HMGET', jkey, 'queue', 'status')
          if f[1] and (f[2] == 'scheduled' or f[2] == 'retrying') then
            redis.call('HSET', jkey, 'status', 'queued')
            redis.call('LPUSH', ARGV[2] .. ':queue:' .. f[1], id)
          end
        end
        return #due
        """)

    /// KEYS: workers set. ARGV: the policy (from ARGV[1]).
    /// For every registered worker whose heartbeat hash has expired: each job it held is given
    /// back (see `give_back`), its active list deleted and its id taken off the set (the worker,
    /// if it still lives, finds out on its next heartbeat). Returns the number of jobs moved.
    static let recover = RedisScript(
        giveBack + "\n" + policy(from: 1) + "\n" + """
        local moved = 0
        for _, w in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          if redis.call('EXISTS', p.prefix .. ':worker:' .. w) == 0 then
            local akey = p.prefix .. ':active:' .. w
            for _, id in ipairs(redis.call('LRANGE', akey, 0, -1)) do
              moved = moved + give_back(p, id)
            end
            redis.call('DEL', akey)
            redis.call('SREM', KEYS[1], w)
          end
        end
        return moved
        """)

    /// KEYS: the worker's active list. ARGV: the policy (from ARGV[1]), then ids.
    /// Gives back ids this worker found in its own active list but is not running (a take
    /// whose reply was lost, an outcome it could not store). Returns the number moved.
    static let sweep = RedisScript(
        giveBack + "\n" + policy(from: 1) + "\n" + """
        local moved = 0
        for i = 8, #ARGV do
          if redis.call('LREM', KEYS[1], 1, ARGV[i]) > 0 then moved = moved + give_back(p, ARGV[i]) end
        end
        return moved
        """)

    /// KEYS: job, active list. ARGV: id, prefix, lease. Puts a job still running when the grace
    /// period ends back at the head of its queue, unless its delivery no longer holds it (a
    /// `lost` delivery). Returns 1 when it went back.
    static let requeue = RedisScript(
        counting + "\n" + holds + "\n" + """
        if not holds(KEYS[1], KEYS[2], ARGV[1], ARGV[3]) then return 0 end
        local f = redis.call('HMGET', KEYS[1], 'queue', 'func')
        count_outcome(ARGV[2], 'lost', f[1], f[2] or '')
        redis.call('HSET', KEYS[1], 'status', 'queued')
        redis.call('HDEL', KEYS[1], 'lease', 'worker')
        redis.call('RPUSH', ARGV[2] .. ':queue:' .. f[1], ARGV[1])
        return 1
        """)

    /// The worker hash's fields and TTL, and the id in the workers set. ARGV from `first`:
    /// id, ttl seconds, then field/value pairs.
    private static func writeWorker(from first: Int) -> String {
        """
        redis.call('HSET', KEYS[2], unpack(ARGV, \(first + 2)))
        redis.call('HSETNX', KEYS[2], 'jobs_finished', '0')
        redis.call('HSETNX', KEYS[2], 'jobs_failed', '0')
        redis.call('EXPIRE', KEYS[2], ARGV[\(first + 1)])
        redis.call('SADD', KEYS[1], ARGV[\(first)])
        """
    }

    /// KEYS: workers set, worker hash, active list. ARGV: id, ttl, fields...
    /// Registers a new worker id, or returns 0 without writing when anything of that id exists
    /// (a worker id is never reused while its hash or active list is there).
    static let register = RedisScript(
        """
        if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1
          or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
        """ + "\n" + writeWorker(from: 1) + "\nreturn 1")

    /// KEYS: workers set, worker hash. ARGV: id, ttl, fields...
    /// Refreshes the worker. Returns 0 when the id had left the set: the worker was declared
    /// dead (its jobs were given back) and is registered again now.
    static let heartbeat = RedisScript(
        "local was = redis.call('SISMEMBER', KEYS[1], ARGV[1])\n" + writeWorker(from: 1) + "\nreturn was")

    /// KEYS: workers set, worker hash, active list. ARGV: id, then the policy (from ARGV[2]).
    /// A stopping worker leaves: anything still in its active list (a fetch answered during
    /// shutdown, an outcome it could not store) is given back first, in the same script.
    /// Returns the number of jobs moved.
    static let deregister = RedisScript(
        giveBack + "\n" + policy(from: 2) + "\n" + """
        local moved = 0
        for _, id in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
          moved = moved + give_back(p, id)
        end
        redis.call('DEL', KEYS[2], KEYS[3])
        redis.call('SREM', KEYS[1], ARGV[1])
        return moved
        """)

    /// KEYS: failed list, job. ARGV: id, prefix. Moves a failed job back to its queue.
    static let retryFailed = RedisScript(
        """
        if redis.call('LREM', KEYS[1], 0, ARGV[1]) == 0 then return 0 end
        if redis.call('HGET', KEYS[2], 'status') ~= 'failed' then return 0 end
        local queue = redis.call('HGET', KEYS[2], 'queue')
        redis.call('PERSIST', KEYS[2])
        redis.call('HSET', KEYS[2], 'status', 'queued', 'attempts', '0')
        redis.call('HDEL', KEYS[2], 'error', 'ended_at', 'started_at', 'worker', 'result', 'lease')
        redis.call('LPUSH', ARGV[2] .. ':queue:' .. queue, ARGV[1])
        return 1
        """)

    /// KEYS: failed list, job. ARGV: id. Deletes a failed job's hash and takes it off the
    /// failed list; returns 0 (nothing deleted) when the job is not `failed`.
    static let deleteFailed = RedisScript(
        """
        if redis.call('HGET', KEYS[2], 'status') ~= 'failed' then return 0 end
        redis.call('LREM', KEYS[1], 0, ARGV[1])
        redis.call('DEL', KEYS[2])
        return 1
        """)

    /// KEYS: failed list. ARGV: prefix. Deletes the list and the hashes of its ids that are
    /// still `failed` (an id may have expired and been reused by a live job). Returns how many
    /// hashes were deleted.
    static let purgeFailed = RedisScript(
        """
        local deleted = 0
        for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
          local jkey = ARGV[1] .. ':job:' .. id
          if redis.call('HGET', jkey, 'status') == 'failed' then
            redis.call('DEL', jkey)
            deleted = deleted + 1
          end
        end
        redis.call('DEL', KEYS[1])
        return deleted
        """)

    /// KEYS: queues set. ARGV: prefix. Takes off every failed list the ids whose hash has
    /// expired or is no longer a failed job. Returns how many ids were removed.
    static let trimFailed = RedisScript(
        """
        local removed = 0
        for _, queue in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          local fkey = ARGV[1] .. ':failed:' .. queue
          for _, id in ipairs(redis.call('LRANGE', fkey, 0, -1)) do
            if redis.call('HGET', ARGV[1] .. ':job:' .. id, 'status') ~= 'failed' then
              removed = removed + redis.call('LREM', fkey, 0, id)
            end
          end
        end
        return removed
        """)
}
