import Redis
import SwiftRPC

extension RedisJobQueue {
    public func workers() async throws -> [WorkerStatus] {
        let ids = (try await redis.send(["SMEMBERS", keys.workers]).array ?? []).compactMap(\.string).sorted()
        let replies = try await redis.pipeline(ids.flatMap { [["HGETALL", keys.worker($0)], ["LRANGE", keys.active($0), "0", "-1"]] })
        return ids.enumerated().map { index, id in
            WorkerStatus(
                id: id, fields: replies[2 * index].fields ?? [:],
                currentJobs: (replies[2 * index + 1].array ?? []).compactMap(\.string))
        }
    }

    /// Failed jobs, newest first, of one queue or of every known queue.
    public func failedJobs(queue: String?) async throws -> [JobRecord] {
        let queues: [String]
        if let queue {
            queues = [queue]
        } else {
            queues = (try await redis.send(["SMEMBERS", keys.queues]).array ?? []).compactMap(\.string).sorted()
        }
        var result: [JobRecord] = []
        for name in queues {
            let ids = (try await redis.send(["LRANGE", keys.failed(name), "0", "-1"]).array ?? []).compactMap(\.string)
            let hashes = try await redis.pipeline(ids.map { ["HGETALL", keys.job($0)] })
            for (id, hash) in zip(ids, hashes) {
                var fields = hash.fields ?? [:]
                if fields.isEmpty { fields = ["id": id, "queue": name, "status": "failed"] }  // hash expired
                result.append(JobRecord(fields: fields))
            }
        }
        return result
    }

    /// Takes a job off its failed list and queues it again; `false` when it is not on one.
    public func retryFailed(job id: String) async throws -> Bool {
        guard let record = try await job(id: id) else { return false }
        return try await redis.run(JobScripts.retryFailed, keys: [keys.failed(record.queue), keys.job(id)], arguments: [id, keys.prefix]).int == 1
    }

    public func deleteFailed(job id: String) async throws -> Bool {
        guard let record = try await job(id: id) else { return false }
        return try await redis.run(JobScripts.deleteFailed, keys: [keys.failed(record.queue), keys.job(id)], arguments: [id]).int == 1
    }

    public func jobMetrics() async throws -> JobMetrics {
        let queues = try await queueStats()
        let replies = try await redis.pipeline([["SCARD", keys.workers], ["HGETALL", keys.jobCounts], ["HGETALL", keys.jobDurations]])
        // Fields are "{outcome} {queue} {func}" and "{le} {func}" / "sum_us {func}". Only valid
        // names are read, so they go into Prometheus labels as they are.
        let outcomes = (replies[1].fields ?? [:]).compactMap { field, count -> JobMetrics.Outcomes? in
            let parts = field.split(separator: " ")
            guard parts.count == 3, ["finished", "failed", "retried", "lost"].contains(parts[0]), JobNames.isValidQueueName(parts[1]),
                FunctionRegistry.isValidName(parts[2]), let count = Int(count)
            else { return nil }
            return JobMetrics.Outcomes(queue: String(parts[1]), function: String(parts[2]), outcome: String(parts[0]), count: count)
        }
        var durations: [String: JobMetrics.Durations] = [:]
        for (field, value) in replies[2].fields ?? [:] {
            let parts = field.split(separator: " ")
            guard parts.count == 2, FunctionRegistry.isValidName(parts[1]) else { continue }
            let function = String(parts[1])
            var entry = durations[function]
                ?? JobMetrics.Durations(function: function, runsPerBucket: Array(repeating: 0, count: JobMetrics.bucketLabels.count), totalSeconds: 0)
            if parts[0] == "sum_us" {
                entry.totalSeconds = (Double(value) ?? 0) / 1e6
            } else if let bucket = JobMetrics.bucketLabels.firstIndex(where: { $0 == parts[0] }) {
                entry.runsPerBucket[bucket] = Int(value) ?? 0
            }
            durations[function] = entry
        }
        return JobMetrics(
            queues: queues, workers: replies[0].int ?? 0,
            outcomes: outcomes.sorted { ($0.queue, $0.function, $0.outcome) < ($1.queue, $1.function, $1.outcome) },
            durations: durations.values.sorted { $0.function < $1.function })
    }

    public func overview(recentJobs: Int) async throws -> QueueOverview {
        let names = (try await redis.send(["SMEMBERS", keys.queues]).array ?? []).compactMap(\.string).sorted()
        let workers = try await workers()
        // The scheduled set is one for all queues: each job's queue is in its hash. (The first
        // 10,000 scheduled jobs are counted.)
        let scheduled = (try await redis.send(["ZRANGE", keys.scheduled, "0", "9999"]).array ?? []).compactMap(\.string)
        let scheduledQueues = try await redis.pipeline(scheduled.map { ["HGET", keys.job($0), "queue"] })
        var scheduledByQueue: [String: Int] = [:]
        for queue in scheduledQueues.compactMap(\.string) { scheduledByQueue[queue, default: 0] += 1 }
        // Per queue, four replies: its length, its failed count, its newest queued ids, its recently ended ids.
        let newest = String(max(0, recentJobs - 1))
        let perQueue = try await redis.pipeline(
            names.flatMap { [["LLEN", keys.queue($0)], ["LLEN", keys.failed($0)], ["LRANGE", keys.queue($0), "0", newest], ["LRANGE", keys.recent($0), "0", newest]] })
        // One read of every job shown: those listed above and those the workers hold, whose
        // queues also give each queue's active count.
        let held = workers.flatMap(\.currentJobs)
        var ids = Set(held)
        for index in names.indices {
            for listed in perQueue[4 * index + 2...4 * index + 3] { ids.formUnion((listed.array ?? []).compactMap(\.string)) }
        }
        let shown = ids.sorted()
        var records: [String: JobRecord] = [:]
        for (id, reply) in zip(shown, try await redis.pipeline(shown.map { ["HGETALL", keys.job($0)] })) {
            if let fields = reply.fields, !fields.isEmpty { records[id] = JobRecord(fields: fields) }  // else ended and expired meanwhile
        }
        var activeByQueue: [String: Int] = [:]
        for id in held { if let queue = records[id]?.queue { activeByQueue[queue, default: 0] += 1 } }
        let recordsByQueue = Dictionary(grouping: records.values, by: \.queue)
        return QueueOverview(
            queues: names.enumerated().map { index, name in
                QueueOverview.Queue(
                    stats: QueueStats(name: name, length: perQueue[4 * index].int ?? 0, active: activeByQueue[name] ?? 0),
                    scheduled: scheduledByQueue[name] ?? 0, failed: perQueue[4 * index + 1].int ?? 0,
                    recent: Array((recordsByQueue[name] ?? []).sorted { ($0.fields["enqueued_at"] ?? "") > ($1.fields["enqueued_at"] ?? "") }.prefix(recentJobs)))
            },
            workers: workers)
    }

    /// Deletes the failed lists of one queue or of all, and the hashes of their ids that are
    /// still failed jobs (never a live job that reused an expired id); returns how many hashes.
    public func purgeFailed(queue: String?) async throws -> Int {
        let queues: [String]
        if let queue {
            queues = [queue]
        } else {
            queues = (try await redis.send(["SMEMBERS", keys.queues]).array ?? []).compactMap(\.string)
        }
        var deleted = 0
        for name in queues {
            deleted += try await redis.run(JobScripts.purgeFailed, keys: [keys.failed(name)], arguments: [keys.prefix]).int ?? 0
        }
        return deleted
    }
}
