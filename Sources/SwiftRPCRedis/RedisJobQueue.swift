import Logging
import Redis
import SwiftRPC

/// The job queue and result store of SPEC §4 on Redis.
public final class RedisJobQueue: JobQueueDriver {
    public let redis: RedisClient

    public init(redis: RedisClient) {
        self.redis = redis
    }

    public func ping() async throws {
        try await redis.ping()
    }
}
