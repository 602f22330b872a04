import Redis

/// The Lua scripts that move jobs. Each runs atomically in Redis, so no id is ever in a list
/// without its hash, and two workers or recoverers racing cannot both move the same job.
/// (Scripts that build key names from ids or queue names assume a single Redis, not a cluster.)
enum JobScripts {
    /// Every script, for a start-up check that they all compile.
    static var all: [RedisScript] { [enqueue, take, start, finish, fail, promote, recover, requeue, retryFailed] }

    /// KEYS: job, queue list, queues set, scheduled. ARGV: id, func, queue, args, kwargs,
    /// max_attempts, enqueued_at, due time ("" to queue now). Returns {created, status, queue}.
    static let enqueue = RedisScript(
        """
        if redis.call('EXISTS', KEYS[1]) == 1 then
          local f = redis.call('HMGET', KEYS[1], 'status', 'queue')
          return {0, f[1] or '', f[2] or ''}
        end
        local status = 'queued'
        if ARGV[8] ~= '' then status = 'scheduled' end
        redis.call('HSET', KEYS[1], 'id', ARGV[1], 'func', ARGV[2], 'queue', ARGV[3], 'args', ARGV[4],
          'kwargs', ARGV[5], 'status', status, 'attempts', '0', 'max_attempts', ARGV[6], 'enqueued_at', ARGV[7])
        redis.call('SADD', KEYS[3], ARGV[3])
        if status == 'scheduled' then
          redis.call('ZADD', KEYS[4], ARGV[8], ARGV[1])
        else
          redis.call('LPUSH', KEYS[2], ARGV[1])
        end
        return {1, status, ARGV[3]}
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

    /// Marks the job whose id is `id` (already in the worker's active list) started, or drops
    /// the id when its hash is gone. Shared by `take` and `start`.
    private static let startOne = notBefore + "\n" + """
        local function start_one(prefix, active, worker, now, id, taken)
          local jkey = prefix .. ':job:' .. id
          if redis.call('EXISTS', jkey) == 0 then
            redis.call('LREM', active, 1, id)
            return
          end
          redis.call('HSET', jkey, 'status', 'started', 'started_at', not_before(now, jkey, 'enqueued_at'), 'worker', worker)
          redis.call('HDEL', jkey, 'ended_at', 'result')
          local attempts = redis.call('HINCRBY', jkey, 'attempts', 1)
          local f = redis.call('HMGET', jkey, 'func', 'queue', 'args', 'kwargs', 'max_attempts')
          taken[#taken + 1] = {id, f[1] or '', f[2] or '', f[3] or '[]', f[4] or '{}', attempts, f[5] or '1'}
        end
        """

    /// KEYS: the worker's active list. ARGV: prefix, worker, now, most to take, queues...
    /// Moves up to `most` ids from the queues (in priority order) into the active list and
    /// starts them. Returns {id, func, queue, args, kwargs, attempts, max_attempts} per job.
    static let take = RedisScript(
        startOne + "\n" + """
            local taken = {}
            local most = tonumber(ARGV[4])
            for i = 5, #ARGV do
              local qkey = ARGV[1] .. ':queue:' .. ARGV[i]
              while #taken < most do
                local id = redis.call('LMOVE', qkey, KEYS[1], 'RIGHT', 'LEFT')
                if not id then break end
                start_one(ARGV[1], KEYS[1], ARGV[2], ARGV[3], id, taken)
              end
            end
            return taken
            """)

    /// KEYS: the worker's active list. ARGV: prefix, worker, now, id (moved there by BLMOVE).
    static let start = RedisScript(
        startOne + "\n" + """
            local taken = {}
            start_one(ARGV[1], KEYS[1], ARGV[2], ARGV[3], ARGV[4], taken)
            return taken
            """)

    /// KEYS: job, active list, worker hash. ARGV: id, result, ended_at, result_ttl, channel, worker.
    /// A worker that lost the job (declared dead, job run elsewhere) writes nothing.
    static let finish = RedisScript(
        notBefore + "\n" + """
        redis.call('LREM', KEYS[2], 1, ARGV[1])
        if redis.call('HGET', KEYS[1], 'worker') ~= ARGV[6] then return 0 end
        redis.call('HSET', KEYS[1], 'status', 'finished', 'result', ARGV[2], 'ended_at', not_before(ARGV[3], KEYS[1], 'started_at'))
        redis.call('HDEL', KEYS[1], 'error')
        redis.call('EXPIRE', KEYS[1], ARGV[4])
        if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HINCRBY', KEYS[3], 'jobs_finished', 1) end
        redis.call('PUBLISH', ARGV[5], ARGV[1] .. ' finished')
        return 1
        """)

    /// KEYS: job, active list, scheduled, worker hash. ARGV: id, error, ended_at, retry due time
    /// ("" when no retry is left), failure_ttl, prefix, channel, worker.
    /// Returns 1 when scheduled for a retry, 2 when failed for good, 0 when the job was lost.
    static let fail = RedisScript(
        notBefore + "\n" + """
        redis.call('LREM', KEYS[2], 1, ARGV[1])
        if redis.call('HGET', KEYS[1], 'worker') ~= ARGV[8] then return 0 end
        redis.call('HSET', KEYS[1], 'error', ARGV[2])
        if ARGV[4] ~= '' then
          redis.call('HSET', KEYS[1], 'status', 'retrying')
          redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
          return 1
        end
        local queue = redis.call('HGET', KEYS[1], 'queue')
        redis.call('HSET', KEYS[1], 'status', 'failed', 'ended_at', not_before(ARGV[3], KEYS[1], 'started_at'))
        redis.call('EXPIRE', KEYS[1], ARGV[5])
        redis.call('LPUSH', ARGV[6] .. ':failed:' .. queue, ARGV[1])
        if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('HINCRBY', KEYS[4], 'jobs_failed', 1) end
        redis.call('PUBLISH', ARGV[7], ARGV[1] .. ' failed')
        return 2
        """)

    /// KEYS: scheduled. ARGV: now (Unix seconds), prefix, most. Queues the due jobs.
    static let promote = RedisScript(
        """
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
        for _, id in ipairs(due) do
          redis.call('ZREM', KEYS[1], id)
          local jkey = ARGV[2] .. ':job:' .. id
          local queue = redis.call('HGET', jkey, 'queue')
          if queue then
            redis.call('HSET', jkey, 'status', 'queued')
            redis.call('LPUSH', ARGV[2] .. ':queue:' .. queue, id)
          end
        end
        return #due
        """)

    /// KEYS: workers set. ARGV: prefix, max_deliveries, now, failure_ttl, channel, worker_lost error.
    /// For every registered worker whose heartbeat hash has expired: each job it held goes
    /// back to the head of its queue, or fails with `worker_lost` once it has been started
    /// max_deliveries times. Returns the number of jobs handled.
    static let recover = RedisScript(
        """
        local handled = 0
        for _, w in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          if redis.call('EXISTS', ARGV[1] .. ':worker:' .. w) == 0 then
            local akey = ARGV[1] .. ':active:' .. w
            for _, id in ipairs(redis.call('LRANGE', akey, 0, -1)) do
              local jkey = ARGV[1] .. ':job:' .. id
              local f = redis.call('HMGET', jkey, 'queue', 'attempts')
              if f[1] then
                if tonumber(f[2] or '0') >= tonumber(ARGV[2]) then
                  redis.call('HSET', jkey, 'status', 'failed', 'error', ARGV[6], 'ended_at', ARGV[3])
                  redis.call('EXPIRE', jkey, ARGV[4])
                  redis.call('LPUSH', ARGV[1] .. ':failed:' .. f[1], id)
                  redis.call('PUBLISH', ARGV[5], id .. ' failed')
                else
                  redis.call('HSET', jkey, 'status', 'queued')
                  redis.call('RPUSH', ARGV[1] .. ':queue:' .. f[1], id)
                end
                handled = handled + 1
              end
            end
            redis.call('DEL', akey)
            redis.call('SREM', KEYS[1], w)
          end
        end
        return handled
        """)

    /// KEYS: job, active list. ARGV: id, prefix. Puts a job this worker gives up (shutdown) back
    /// at the head of its queue.
    static let requeue = RedisScript(
        """
        redis.call('LREM', KEYS[2], 1, ARGV[1])
        local queue = redis.call('HGET', KEYS[1], 'queue')
        if not queue then return 0 end
        redis.call('HSET', KEYS[1], 'status', 'queued')
        redis.call('RPUSH', ARGV[2] .. ':queue:' .. queue, ARGV[1])
        return 1
        """)

    /// KEYS: failed list, job. ARGV: id, prefix. Moves a failed job back to its queue.
    static let retryFailed = RedisScript(
        """
        if redis.call('LREM', KEYS[1], 0, ARGV[1]) == 0 then return 0 end
        local queue = redis.call('HGET', KEYS[2], 'queue')
        if not queue then return 0 end
        redis.call('PERSIST', KEYS[2])
        redis.call('HSET', KEYS[2], 'status', 'queued', 'attempts', '0')
        redis.call('HDEL', KEYS[2], 'error', 'ended_at', 'started_at', 'worker', 'result')
        redis.call('LPUSH', ARGV[2] .. ':queue:' .. queue, ARGV[1])
        return 1
        """)
}
