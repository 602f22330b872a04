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

    public init(id: String, function: String, queue: String, positional: [JSONValue], keywords: JSONObject, maxAttempts: Int, delay: Double? = nil) {
        self.id = id
        self.function = function
        self.queue = queue
        self.positional = positional
        self.keywords = keywords
        self.maxAttempts = maxAttempts
        self.delay = delay
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
    func enqueueAndWait(_ request: EnqueueRequest, timeout: Duration, on eventLoop: any EventLoop) -> EventLoopFuture<(EnqueueResult, JobRecord?)>
    /// Every known queue with its length and active count.
    func queueStats() async throws -> [QueueStats]
    /// Jobs this process has seen end since it started (for /metrics).
    var completedJobs: (finished: Int, failed: Int) { get }
}
