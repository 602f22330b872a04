import NIOCore

/// The life of a job (SPEC §3).
public enum JobStatus: String, Sendable, CaseIterable {
    case queued, scheduled, started, retrying, finished, failed

    public var isTerminal: Bool { self == .finished || self == .failed }
}

/// One job as stored: the fields of its `swiftrpc:job:{id}` hash.
public struct JobRecord: Sendable, Equatable {
    public let fields: [String: String]

    public init(fields: [String: String]) { self.fields = fields }

    public var id: String { fields["id"] ?? "" }
    public var function: String { fields["func"] ?? "" }
    public var queue: String { fields["queue"] ?? "" }
    public var status: JobStatus? { fields["status"].flatMap(JobStatus.init(rawValue:)) }
    public var attempts: Int { fields["attempts"].flatMap(Int.init) ?? 0 }
    public var result: JSONValue? { fields["result"].map(Self.parseStored) }
    public var error: JSONValue? { fields["error"].map(Self.parseStored) }

    /// The job JSON of SPEC §3: every field present, `null` where there is no value.
    public var json: JSONValue {
        func text(_ name: String) -> JSONValue { fields[name].map(JSONValue.string) ?? .null }
        return .object([
            "job_id": text("id"), "func": text("func"), "queue": text("queue"), "status": text("status"),
            "result": result ?? .null, "error": error ?? .null, "attempts": .int(attempts),
            "enqueued_at": text("enqueued_at"), "started_at": text("started_at"), "ended_at": text("ended_at"),
            "worker": text("worker"),
        ])
    }

    /// Stored values are JSON text; anything else (written by hand with redis-cli) is a string.
    private static func parseStored(_ text: String) -> JSONValue {
        (try? JSONParser.parse(text)) ?? .string(text)
    }
}

/// A call to store as a job.
public struct EnqueueRequest: Sendable {
    public var id: String
    public var function: String
    public var queue: String
    public var positional: [JSONValue]
    public var keywords: JSONObject
    public var maxAttempts: Int
    /// Seconds before it may run; `nil` or 0 queues it at once.
    public var delay: Double?
    /// Stored in the job's `traceparent` field: the worker's span is its child.
    public var traceParent: TraceParent?

    public init(
        id: String, function: String, queue: String, positional: [JSONValue], keywords: JSONObject, maxAttempts: Int, delay: Double? = nil,
        traceParent: TraceParent? = nil
    ) {
        self.id = id
        self.function = function
        self.queue = queue
        self.positional = positional
        self.keywords = keywords
        self.maxAttempts = maxAttempts
        self.delay = delay
        self.traceParent = traceParent
    }
}

/// What enqueueing answered: the job's id, status and queue, and whether this call created
/// it (`false`: the id existed, nothing was stored or queued again).
public struct EnqueueResult: Sendable, Equatable {
    public var id: String
    public var status: String
    public var queue: String
    public var created: Bool

    public init(id: String, status: String, queue: String, created: Bool) {
        self.id = id
        self.status = status
        self.queue = queue
        self.created = created
    }
}

/// One queue as `swift-rpc queues` shows it.
public struct QueueStats: Sendable, Equatable {
    public var name: String
    public var length: Int
    /// Jobs of this queue that workers hold now.
    public var active: Int

    public init(name: String, length: Int, active: Int) {
        self.name = name
        self.length = length
        self.active = active
    }
}

/// The whole system's jobs as `/metrics` reports them (SPEC §10): what every worker recorded in
/// the store, not what one process saw.
public struct JobMetrics: Sendable, Equatable {
    /// Deliveries that ended one way, of one function on one queue.
    public struct Outcomes: Sendable, Equatable {
        public var queue: String
        public var function: String
        /// `finished`, `failed` (for good), `retried` (failed, another attempt scheduled) or
        /// `lost` (ended without an outcome: its worker died or stopped; the job went back).
        public var outcome: String
        public var count: Int

        public init(queue: String, function: String, outcome: String, count: Int) {
            self.queue = queue
            self.function = function
            self.outcome = outcome
            self.count = count
        }
    }

    /// How long one function's jobs ran, every run that ended finished, failed or retried.
    public struct Durations: Sendable, Equatable {
        public var function: String
        /// Runs per bucket, in the order of `JobMetrics.bucketLabels`: not cumulative.
        public var runsPerBucket: [Int]
        public var totalSeconds: Double

        public init(function: String, runsPerBucket: [Int], totalSeconds: Double) {
            self.function = function
            self.runsPerBucket = runsPerBucket
            self.totalSeconds = totalSeconds
        }
    }

    public var queues: [QueueStats]
    /// Registered (live) workers.
    public var workers: Int
    public var outcomes: [Outcomes]
    public var durations: [Durations]

    public init(queues: [QueueStats], workers: Int, outcomes: [Outcomes], durations: [Durations]) {
        self.queues = queues
        self.workers = workers
        self.outcomes = outcomes
        self.durations = durations
    }

    /// Upper bounds (seconds) of the job duration histogram's buckets; a run longer than the
    /// last counts in `+Inf` only.
    public static let durationBuckets: [Double] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900]

    /// The buckets' `le` labels: each bound as text, then `+Inf`.
    public static let bucketLabels: [String] = durationBuckets.map { "\($0)" } + ["+Inf"]

    /// The label of the bucket a run of `seconds` counts in.
    public static func bucketLabel(of seconds: Double) -> String {
        bucketLabels[durationBuckets.firstIndex { seconds <= $0 } ?? durationBuckets.count]
    }
}

/// One worker as `swift-rpc workers` and the dashboard show it: the fields of its hash (empty
/// once its heartbeat has expired) and the ids in its active list.
public struct WorkerStatus: Sendable {
    public var id: String
    public var fields: [String: String]
    public var currentJobs: [String]

    public init(id: String, fields: [String: String], currentJobs: [String]) {
        self.id = id
        self.fields = fields
        self.currentJobs = currentJobs
    }

    /// `{"id", "host", "pid", "queues", "current_jobs", "heartbeat_at"}`, `null` where the hash has no value.
    public var json: JSONValue {
        [
            "id": .string(id), "host": fields["host"].map(JSONValue.string) ?? .null,
            "pid": fields["pid"].flatMap(Int.init).map(JSONValue.int) ?? .null,
            "queues": .array((fields["queues"] ?? "").split(separator: ",").map { .string(String($0)) }),
            "current_jobs": .array(currentJobs.map(JSONValue.string)),
            "heartbeat_at": fields["heartbeat_at"].map(JSONValue.string) ?? .null,
        ]
    }
}

/// What the dashboard shows (SPEC §10): every known queue with its counts and newest jobs, and
/// the live workers.
public struct QueueOverview: Sendable {
    public struct Queue: Sendable {
        /// Name, length and active count.
        public var stats: QueueStats
        /// Delayed jobs and jobs waiting out a retry backoff.
        public var scheduled: Int
        /// Ids on its failed list.
        public var failed: Int
        /// Its newest jobs, queued, running or recently ended, newest enqueued first.
        public var recent: [JobRecord]

        public init(stats: QueueStats, scheduled: Int, failed: Int, recent: [JobRecord]) {
            self.stats = stats
            self.scheduled = scheduled
            self.failed = failed
            self.recent = recent
        }
    }

    public var queues: [Queue]
    public var workers: [WorkerStatus]

    public init(queues: [Queue], workers: [WorkerStatus]) {
        self.queues = queues
        self.workers = workers
    }
}

/// What the front needs from the job store behind MQ functions. `RedisJobQueue` is the
/// production implementation.
///
/// The calls of MQ requests (enqueue, a job's read, the waits of `?wait`) take the event loop
/// of the request and complete on it: an implementation can answer without a hop to a task.
public protocol JobQueueDriver: Sendable {
    /// Succeeds when the store answers (health checks).
    func ping() async throws
    /// Stores the job and queues (or schedules) it, atomically; an existing id is returned as it is.
    func enqueue(_ request: EnqueueRequest, on eventLoop: any EventLoop) -> EventLoopFuture<EnqueueResult>
    /// The job, or `nil` when no job has that id.
    func job(id: String, on eventLoop: any EventLoop) -> EventLoopFuture<JobRecord?>
    /// The job once it is finished or failed, or as it is when `timeout` runs out; `nil` if unknown.
    /// Waits for a completion notice; never polls.
    func waitForJob(id: String, timeout: Duration, on eventLoop: any EventLoop) -> EventLoopFuture<JobRecord?>
    /// Enqueues, then waits up to `timeout` for the job to end: the job as it is then (`nil`
    /// only if it vanished). Registers for the completion notice before enqueueing, so a job
    /// that ends at once is not missed and a new job needs no extra read before the wait.
    /// A job that finished with a result small enough to come with its notice is answered
    /// from the notice without a read: its record then holds only `id`, `status` and `result`.
    func enqueueAndWait(_ request: EnqueueRequest, timeout: Duration, on eventLoop: any EventLoop) -> EventLoopFuture<(EnqueueResult, JobRecord?)>
    /// The whole system's queues, workers and job outcomes, for `/metrics`.
    func jobMetrics() async throws -> JobMetrics
    /// The dashboard's view, with up to `recentJobs` jobs per queue.
    func overview(recentJobs: Int) async throws -> QueueOverview
    /// Failed jobs, newest first, of one queue or of every known queue.
    func failedJobs(queue: String?) async throws -> [JobRecord]
    /// Takes a job off its failed list and queues it again; `false` when it is not on one.
    func retryFailed(job id: String) async throws -> Bool
    /// Deletes a failed job: its hash and its place on the failed list. `false` (nothing
    /// deleted) when no failed job has that id.
    func deleteFailed(job id: String) async throws -> Bool
}
