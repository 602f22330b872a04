/// What an MQ function can know about the delivery running it: read `JobContext.current`
/// inside the function (it is `nil` outside a worker).
public struct JobContext: Sendable {
    public let jobID: String
    /// How many times the job has been started, this time included.
    public let attempt: Int
    /// This delivery's token (the job hash's `lease` while it runs).
    public let delivery: String
    /// When the job's `timeout` ends this delivery.
    public let deadline: ContinuousClock.Instant

    public init(jobID: String, attempt: Int, delivery: String, deadline: ContinuousClock.Instant) {
        self.jobID = jobID
        self.attempt = attempt
        self.delivery = delivery
        self.deadline = deadline
    }

    @TaskLocal public static var current: JobContext?
}
