/// What the front needs from the job store behind MQ functions. `RedisJobQueue` is the
/// production implementation; tests of the front may use any other.
public protocol JobQueueDriver: Sendable {
    /// Succeeds when the store answers (health checks).
    func ping() async throws
}
