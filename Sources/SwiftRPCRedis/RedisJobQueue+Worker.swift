import NIOCore
import Redis
import SwiftRPC

/// A job a worker has taken: moved into its active list and started as one delivery.
public struct TakenJob: Sendable {
    public let id: String
    public let function: String
    public let queue: String
    public let positional: [JSONValue]
    public let keywords: JSONObject
    /// How many times it has been started, this time included.
    public let attempts: Int
    public let maxAttempts: Int
    /// This delivery's token: its outcome is recorded only while the job's `lease` field holds it.
    public let lease: String
    /// The enqueue's span, whose child this run is.
    public let traceParent: TraceParent?

    init?(_ reply: RESPValue) {
        guard let parts = reply.array, parts.count == 9, let id = parts[0].string, let lease = parts[7].string else { return nil }
        self.id = id
        function = parts[1].string ?? ""
        queue = parts[2].string ?? ""
        if case .array(let values)? = try? JSONParser.parse(parts[3].string ?? "[]") { positional = values } else { positional = [] }
        if case .object(let object)? = try? JSONParser.parse(parts[4].string ?? "{}") { keywords = object } else { keywords = JSONObject() }
        attempts = parts[5].int ?? 1
        maxAttempts = parts[6].int ?? 1
        self.lease = lease
        traceParent = parts[8].string.flatMap { TraceParent($0) }
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

    var fields: [String] {
        [
            "host", host, "pid", String(pid), "queues", queues.joined(separator: ","), "concurrency", String(concurrency),
            "started_at", startedAt, "heartbeat_at", Timestamp.iso8601(),
        ]
    }
}

/// What becomes of jobs whose delivery is lost, and how long failed lists grow (SPEC §5).
public struct DeliveryPolicy: Sendable {
    /// Starts of one job before a lost one fails with `worker_lost`.
    public var maxDeliveries: Int
    /// Ids kept on each `swiftrpc:failed:{queue}` list (the oldest are dropped).
    public var failedMax: Int
    /// How long the hash of a job that failed with `worker_lost` is kept.
    public var lostFailureTTL: Duration

    public init(maxDeliveries: Int = 3, failedMax: Int = 10_000, lostFailureTTL: Duration = .seconds(7 * 86_400)) {
        self.maxDeliveries = maxDeliveries
        self.failedMax = failedMax
        self.lostFailureTTL = lostFailureTTL
    }
}

/// How a failed delivery was recorded.
public enum FailOutcome: Sendable, Equatable {
    /// Waiting out its backoff in `scheduled`.
    case retrying
    /// Failed for good, on the failed list.
    case failed
    /// The delivery no longer held the job: nothing was written.
    case leaseLost
}

extension RedisJobQueue {
    /// Registers a new worker id: `false` (nothing written) when a hash, an active list or a
    /// set member of that id exists, so ids are never reused.
    public func register(_ worker: WorkerInfo, ttl: Duration) async throws -> Bool {
        try await redis.run(
            JobScripts.register, keys: [keys.workers, keys.worker(worker.id), keys.active(worker.id)],
            arguments: [worker.id, String(ttl.wholeSeconds)] + worker.fields
        ).int == 1
    }

    /// Refreshes the worker's hash (TTL `ttl`) and set membership. Returns `false` when the
    /// worker had been declared dead (its jobs given back); it is registered again now.
    public func heartbeat(_ worker: WorkerInfo, ttl: Duration) async throws -> Bool {
        try await redis.run(
            JobScripts.heartbeat, keys: [keys.workers, keys.worker(worker.id)],
            arguments: [worker.id, String(ttl.wholeSeconds)] + worker.fields
        ).int == 1
    }

    /// A stopping worker leaves; whatever is still in its active list is given back first.
    /// Returns how many jobs were given back.
    @discardableResult
    public func deregister(worker id: String, policy: DeliveryPolicy) async throws -> Int {
        try await redis.run(
            JobScripts.deregister, keys: [keys.workers, keys.worker(id), keys.active(id)],
            arguments: [id] + policyArguments(policy, failureTTL: policy.lostFailureTTL)
        ).int ?? 0
    }

    /// Takes up to `most` jobs from `queues` (in priority order) without blocking.
    public func take(worker: String, queues: [String], most: Int) async throws -> [TakenJob] {
        let reply = try await redis.run(
            JobScripts.take, keys: [keys.active(worker)],
            arguments: [keys.prefix, worker, Timestamp.iso8601(), String(most), Self.newLease()] + queues)
        return (reply.array ?? []).compactMap(TakenJob.init)
    }

    /// Waits up to `timeout` on `connection` (one of the worker's own: the command blocks it)
    /// for a job on `queue` and moves its id into the active list; then, if `shouldStart()`
    /// still says so, starts it at once from the connection's event loop (no trip through a
    /// task in between: this is on the path of every `?wait`). The job if one came and
    /// started; `nil` when the wait ran out or the job was not started. An id moved but not
    /// started stays in the active list, where `deregister` or a sweep gives it back; closing
    /// the connection withdraws the wait.
    public func blockingMoveAndStart(
        worker: String, queue: String, timeout: Duration, connection: RedisConnection, shouldStart: @escaping @Sendable () -> Bool
    ) async throws -> TakenJob? {
        let loop = connection.eventLoop
        let blockingMove = ["BLMOVE", keys.queue(queue), keys.active(worker), "RIGHT", "LEFT", String(timeout.inSeconds)]
        return try await connection.submit([blockingMove], extraTimeout: TimeAmount(timeout)).flatMap { replies -> EventLoopFuture<TakenJob?> in
            if case .error(let message) = replies[0] { return loop.makeFailedFuture(RedisClientError(.serverError, message)) }
            guard let id = replies[0].string, shouldStart() else { return loop.makeSucceededFuture(nil) }
            return self.start(job: id, worker: worker, on: loop)
        }.get()
    }

    /// Starts a job whose id is in the worker's active list but not started; `nil` when it
    /// cannot start (it ended, vanished, or a sweep gave it back meanwhile).
    public func start(job id: String, worker: String, on eventLoop: any EventLoop) -> EventLoopFuture<TakenJob?> {
        redis.run(JobScripts.start, keys: [keys.active(worker)], arguments: [keys.prefix, worker, Timestamp.iso8601(), id, Self.newLease()], on: eventLoop)
            .map { started in (started.array ?? []).compactMap(TakenJob.init).first }
    }

    /// Stores the result, ends the job `finished`, counts the run (it took `ran`) and notifies
    /// waiters; `false` (nothing written) when this delivery no longer holds the job. The
    /// finishes of one event-loop tick go to Redis as one script call.
    public func finish(_ job: TakenJob, worker: String, result: JSONValue, resultTTL: Duration, ran: Duration) async throws -> Bool {
        try await finish(job, worker: worker, result: result, resultTTL: resultTTL, ran: ran, on: redis.eventLoopGroup.any()).get()
    }

    /// `finish` for callers on an event loop, in that loop's tick.
    public func finish(
        _ job: TakenJob, worker: String, result: JSONValue, resultTTL: Duration, ran: Duration, on eventLoop: any EventLoop
    ) -> EventLoopFuture<Bool> {
        let promise = eventLoop.makePromise(of: Bool.self)
        let arguments = [job.id, result.jsonText, String(max(1, resultTTL.wholeSeconds)), job.lease] + runArguments(job, ran: ran)
        finishBatches.add(QueuedFinish(promise: promise, worker: worker, jobKey: keys.job(job.id), arguments: arguments), on: eventLoop)
        return promise.futureResult
    }

    /// One finish waiting for its tick's script call.
    struct QueuedFinish: Sendable {
        var promise: EventLoopPromise<Bool>
        var worker: String
        var jobKey: String
        /// id, result, result TTL, lease, then `runArguments`.
        var arguments: [String]
    }

    /// One script call per worker among the tick's finishes (a process may run several workers).
    static func sendFinishes(_ batch: ArraySlice<QueuedFinish>, redis: RedisClient, keys: RedisKeys, on eventLoop: any EventLoop) {
        for (worker, finishes) in Dictionary(grouping: batch, by: \.worker) {
            redis.run(
                JobScripts.finish, keys: [keys.active(worker), keys.worker(worker)] + finishes.map(\.jobKey),
                arguments: [keys.prefix, keys.completions, Timestamp.iso8601()] + finishes.flatMap(\.arguments), on: eventLoop
            ).whenComplete { result in
                for (index, finish) in zip(0..., finishes) {
                    finish.promise.completeWith(
                        result.flatMap { reply in Result { try reply.batchPart(index, of: "finish").int == 1 } })
                }
            }
        }
    }

    /// What the scripts count of one run: queue, func, duration bucket, microseconds (an
    /// integer: `HINCRBY` costs Redis less than `HINCRBYFLOAT`).
    private func runArguments(_ job: TakenJob, ran: Duration) -> [String] {
        let seconds = ran.inSeconds
        return [job.queue, job.function, JobMetrics.bucketLabel(of: seconds), String(Int64((seconds * 1e6).rounded()))]
    }

    /// Stores the error and counts the run (it took `ran`); with `retryAt` (Unix seconds) the
    /// job waits in `scheduled` as `retrying`, else it ends `failed`, goes on the failed list
    /// and waiters are notified.
    public func fail(
        _ job: TakenJob, worker: String, error: JSONValue, retryAt: Double?, failureTTL: Duration, policy: DeliveryPolicy, ran: Duration
    ) async throws -> FailOutcome {
        let reply = try await redis.run(
            JobScripts.fail, keys: [keys.job(job.id), keys.active(worker), keys.scheduled, keys.worker(worker)],
            arguments: [job.id, error.jsonText, retryAt.map { String($0) } ?? "", job.lease] + policyArguments(policy, failureTTL: failureTTL)
                + runArguments(job, ran: ran))
        switch reply.int {
        case 1: return .retrying
        case 2: return .failed
        default: return .leaseLost
        }
    }

    /// Puts a job this worker cannot run back in `scheduled`, due at `dueAt` (Unix seconds), for
    /// another worker; after `maxDeliveries` starts it fails with `error` instead.
    public func deferJob(_ job: TakenJob, worker: String, dueAt: Double, error: JSONValue, policy: DeliveryPolicy) async throws -> FailOutcome {
        let reply = try await redis.run(
            JobScripts.deferJob, keys: [keys.job(job.id), keys.active(worker), keys.scheduled],
            arguments: [job.id, String(dueAt), job.lease, error.jsonText] + policyArguments(policy, failureTTL: policy.lostFailureTTL))
        switch reply.int {
        case 1: return .retrying
        case 2: return .failed
        default: return .leaseLost
        }
    }

    /// Queues the delayed and retrying jobs that are due; returns how many.
    @discardableResult
    public func promoteDueJobs(most: Int = 1000) async throws -> Int {
        try await redis.run(JobScripts.promote, keys: [keys.scheduled], arguments: [String(Timestamp.now()), keys.prefix, String(most)]).int ?? 0
    }

    /// Gives the jobs of dead workers (heartbeat expired) back to their queues, or fails them
    /// with `worker_lost` after `maxDeliveries` starts; returns how many jobs were moved.
    @discardableResult
    public func recoverDeadWorkers(policy: DeliveryPolicy) async throws -> Int {
        try await redis.run(JobScripts.recover, keys: [keys.workers], arguments: policyArguments(policy, failureTTL: policy.lostFailureTTL)).int ?? 0
    }

    /// The ids in the worker's own active list.
    public func activeJobs(worker: String) async throws -> [String] {
        (try await redis.send(["LRANGE", keys.active(worker), "0", "-1"]).array ?? []).compactMap(\.string)
    }

    /// Gives back ids found in the worker's own active list that it is not running; returns
    /// how many jobs were moved.
    @discardableResult
    public func sweep(worker: String, stranded ids: [String], policy: DeliveryPolicy) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try await redis.run(
            JobScripts.sweep, keys: [keys.active(worker)], arguments: policyArguments(policy, failureTTL: policy.lostFailureTTL) + ids
        ).int ?? 0
    }

    /// Puts a job still running when the grace period ends back at the head of its queue;
    /// `false` when its delivery no longer holds it (it ended or was moved meanwhile).
    public func requeue(_ job: TakenJob, worker: String) async throws -> Bool {
        try await redis.run(JobScripts.requeue, keys: [keys.job(job.id), keys.active(worker)], arguments: [job.id, keys.prefix, job.lease]).int == 1
    }

    /// Takes off the failed lists the ids whose hash has expired; returns how many.
    @discardableResult
    public func trimFailedLists() async throws -> Int {
        try await redis.run(JobScripts.trimFailed, keys: [keys.queues], arguments: [keys.prefix]).int ?? 0
    }

    /// The policy part of the scripts' arguments (see `JobScripts.policy(from:)`).
    private func policyArguments(_ policy: DeliveryPolicy, failureTTL: Duration) -> [String] {
        let lost: JSONValue = ["code": "worker_lost", "message": "the worker running this job stopped sending heartbeats"]
        return [
            keys.prefix, Timestamp.iso8601(), String(max(1, failureTTL.wholeSeconds)), String(max(1, policy.failedMax)), keys.completions,
            String(max(1, policy.maxDeliveries)), lost.jsonText,
        ]
    }

    /// A delivery token: 64 random bits, so no two deliveries of a job share one.
    static func newLease() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }
}
