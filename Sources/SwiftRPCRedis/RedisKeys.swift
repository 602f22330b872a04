/// Every Redis key and channel SwiftRPC uses (SPEC §4), in one place.
public struct RedisKeys: Sendable {
    /// The namespace prefix, `swiftrpc` by default.
    public let prefix: String

    public init(prefix: String = "swiftrpc") {
        self.prefix = prefix
        self.queues = "\(prefix):queues"
        self.workers = "\(prefix):workers"
        self.scheduled = "\(prefix):scheduled"
        self.completions = "\(prefix):completions"
        self.jobCounts = "\(prefix):metrics:jobs"
        self.jobDurations = "\(prefix):metrics:durations"
    }

    /// List of queued job ids; producers LPUSH, workers take from the right (FIFO).
    public func queue(_ name: String) -> String { prefix + ":queue:" + name }
    /// Hash of one job.
    public func job(_ id: String) -> String { prefix + ":job:" + id }
    /// Set of known queue names.
    public let queues: String
    /// List of the ids a worker has taken and not finished.
    public func active(_ worker: String) -> String { "\(prefix):active:\(worker)" }
    /// Set of live worker ids.
    public let workers: String
    /// Hash of one worker; it expires when the worker stops sending heartbeats.
    public func worker(_ id: String) -> String { "\(prefix):worker:\(id)" }
    /// Sorted set of delayed jobs and jobs waiting out a retry backoff (score = due time, Unix seconds).
    public let scheduled: String
    /// List of the ids of jobs that failed for good.
    public func failed(_ queue: String) -> String { "\(prefix):failed:\(queue)" }
    /// List of the ids of a queue's jobs that ended most recently, newest first: trimmed to 100 when it reaches 150.
    public func recent(_ queue: String) -> String { "\(prefix):recent:\(queue)" }
    /// Pub/sub channel: `"{id} finished"` or `"{id} failed"` when a job ends.
    public let completions: String
    /// Hash of every worker's job outcomes, `"{outcome} {queue} {func}"` → count (SPEC §10).
    public let jobCounts: String
    /// Hash of job run times by function: `"{le} {func}"` → runs that fell in that bucket of
    /// `JobMetrics.bucketLabels` (not cumulative), and `"sum_us {func}"` → microseconds run.
    public let jobDurations: String
}
