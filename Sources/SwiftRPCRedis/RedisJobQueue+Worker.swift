import Redis
import SwiftRPC

/// A job a worker has taken: moved into its active list and marked started.
public struct TakenJob: Sendable {
    public let id: String
    public let function: String
    public let queue: String
    public let positional: [JSONValue]
    public let keywords: JSONObject
    /// How many times it has been started, this time included.
    public let attempts: Int
    public let maxAttempts: Int

    init?(_ reply: RESPValue) {
        guard let parts = reply.array, parts.count == 7, let id = parts[0].string else { return nil }
        self.id = id
        function = parts[1].string ?? ""
        queue = parts[2].string ?? ""
        if case .array(let values)? = try? JSONParser.parse(parts[3].string ?? "[]") { positional = values } else { positional = [] }
        if case .object(let object)? = try? JSONParser.parse(parts[4].string ?? "{}") { keywords = object } else { keywords = JSONObject() }
        attempts = parts[5].int ?? 1
        maxAttempts = parts[6].int ?? 1
    }
}

/// What a worker says about itself in `swiftrpc:worker:{id}`.
public struct WorkerInfo: Sendable {
    public var id: String
    public var host: String
    public var pid: Int
    public var queues: [String]
    public var concurrency: Int
    public var startedAt: String

    public init(id: String, host: String, pid: Int, queues: [String], concurrency: Int, startedAt: String) {
        self.id = id
        self.host = host
        self.pid = pid
        self.queues = queues
        self.concurrency = concurrency
        self.startedAt = startedAt
    }
}

extension RedisJobQueue {
    /// Registers the worker (or refreshes it): its hash, with a TTL of `ttl`, and its id in the set.
    public func heartbeat(_ worker: WorkerInfo, ttl: Duration) async throws {
        let key = keys.worker(worker.id)
        let replies = try await redis.pipeline([
            [
                "HSET", key, "host", worker.host, "pid", String(worker.pid), "queues", worker.queues.joined(separator: ","),
                "concurrency", String(worker.concurrency), "started_at", worker.startedAt, "heartbeat_at", Timestamp.iso8601(),
            ],
            ["HSETNX", key, "jobs_finished", "0"],
            ["HSETNX", key, "jobs_failed", "0"],
            ["EXPIRE", key, String(ttl.components.seconds)],
            ["SADD", keys.workers, worker.id],
        ])
        if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
            throw RedisClientError(.serverError, "heartbeat: \(failure)")
        }
    }

    /// Removes a stopping worker from the live set (its active list is empty by then).
    public func deregister(worker id: String) async throws {
        _ = try await redis.pipeline([["SREM", keys.workers, id], ["DEL", keys.worker(id), keys.active(id)]])
    }

    /// Takes up to `most` jobs from `queues` (in priority order) without blocking.
    public func take(worker: String, queues: [String], most: Int) async throws -> [TakenJob] {
        let reply = try await redis.run(
            JobScripts.take, keys: [keys.active(worker)],
            arguments: [keys.prefix, worker, Timestamp.iso8601(), String(most)] + queues)
        return (reply.array ?? []).compactMap(TakenJob.init)
    }

    /// Waits up to `timeout` on `connection` (one of the worker's own: the command blocks it)
    /// for a job on `queue`, moves it into the active list and starts it.
    public func blockingTake(worker: String, queue: String, timeout: Duration, connection: RedisConnection) async throws -> TakenJob? {
        let reply = try await connection.pipeline(
            [["BLMOVE", keys.queue(queue), keys.active(worker), "RIGHT", "LEFT", String(timeout.inSeconds)]], extraTimeout: timeout)[0]
        if case .error(let message) = reply { throw RedisClientError(.serverError, message) }
        guard let id = reply.string else { return nil }
        let started = try await redis.run(JobScripts.start, keys: [keys.active(worker)], arguments: [keys.prefix, worker, Timestamp.iso8601(), id])
        return (started.array ?? []).compactMap(TakenJob.init).first
    }

    /// Stores the result, ends the job `finished` and notifies waiters.
    public func finish(job id: String, worker: String, result: JSONValue, resultTTL: Duration) async throws {
        try await redis.run(
            JobScripts.finish, keys: [keys.job(id), keys.active(worker), keys.worker(worker)],
            arguments: [id, result.jsonText, Timestamp.iso8601(), String(max(1, resultTTL.components.seconds)), keys.completions, worker])
    }

    /// Stores the error; with `retryAt` (Unix seconds) the job waits in `scheduled` as
    /// `retrying`, else it ends `failed`, goes on the failed list and waiters are notified.
    public func fail(job id: String, worker: String, error: JSONValue, retryAt: Double?, failureTTL: Duration) async throws {
        try await redis.run(
            JobScripts.fail, keys: [keys.job(id), keys.active(worker), keys.scheduled, keys.worker(worker)],
            arguments: [
                id, error.jsonText, Timestamp.iso8601(), retryAt.map { String($0) } ?? "", String(max(1, failureTTL.components.seconds)),
                keys.prefix, keys.completions, worker,
            ])
    }

    /// Queues the delayed and retrying jobs that are due; returns how many.
    @discardableResult
    public func promoteDueJobs(most: Int = 1000) async throws -> Int {
        try await redis.run(JobScripts.promote, keys: [keys.scheduled], arguments: [String(Timestamp.now()), keys.prefix, String(most)]).int ?? 0
    }

    /// Gives the jobs of dead workers (heartbeat expired) back to their queues, or fails them
    /// with `worker_lost` after `maxDeliveries` starts; returns how many jobs were handled.
    @discardableResult
    public func recoverDeadWorkers(maxDeliveries: Int, failureTTL: Duration = .seconds(7 * 86_400)) async throws -> Int {
        let lost: JSONValue = ["code": "worker_lost", "message": "the worker running this job stopped sending heartbeats"]
        return try await redis.run(
            JobScripts.recover, keys: [keys.workers],
            arguments: [keys.prefix, String(maxDeliveries), Timestamp.iso8601(), String(failureTTL.components.seconds), keys.completions, lost.jsonText]
        ).int ?? 0
    }

    /// Puts a job this worker gives up on (shutdown grace over) back at the head of its queue.
    public func requeue(job id: String, worker: String) async throws {
        try await redis.run(JobScripts.requeue, keys: [keys.job(id), keys.active(worker)], arguments: [id, keys.prefix])
    }
}
