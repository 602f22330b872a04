import Logging

/// What an MQ function knows about the delivery running it: passed as the first argument to
/// a function registered with `registerMQ(…) { (context: JobContext, …) in }`, and readable as
/// `JobContext.current` from anything it calls (`nil` outside a worker).
///
/// Cancellation is Swift's own: at the job's deadline the worker cancels the function's task
/// (`Task.isCancelled`, `try Task.checkCancellation()`, and `Task.sleep` throws).
public struct JobContext: Sendable {
    public let jobID: String
    /// How many times the job has been started, this time included.
    public let attempt: Int
    /// This delivery's token (the job hash's `lease` while it runs).
    public let delivery: String
    /// When the job's `timeout` ends this delivery.
    public let deadline: ContinuousClock.Instant
    /// The worker's logger, with the job id, function and worker as metadata.
    public let logger: Logger

    public init(jobID: String, attempt: Int, delivery: String, deadline: ContinuousClock.Instant, logger: Logger) {
        self.jobID = jobID
        self.attempt = attempt
        self.delivery = delivery
        self.deadline = deadline
        self.logger = logger
    }

    @TaskLocal public static var current: JobContext?
}
