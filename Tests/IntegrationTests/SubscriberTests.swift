import Logging
import Redis
import SwiftRPC
import SwiftRPCRedis
import Testing
import TestSupport

/// The front's one completion subscriber must notice a connection that went silent (a
/// half-open TCP connection looks exactly like a Redis that stopped answering) and replace it.
@Suite("Completion subscriber")
struct SubscriberTests {
    static func pubsubClientIDs(_ client: RedisClient) async throws -> [String] {
        let list = try await client.send(["CLIENT", "LIST", "TYPE", "pubsub"]).string ?? ""
        return list.split(separator: "\n").compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("id=") }.map(String.init)
        }
    }

    @Test func aSilentSubscriberConnectionIsReplacedAndStillWakesWaiters() async throws {
        let logger = Logger(label: "subscriber-tests")
        let redis = try await RedisServer.start()
        let client = RedisClient(
            configuration: RedisConfiguration(port: redis.port, commandTimeout: .milliseconds(1500)), logger: logger)
        let jobs = RedisJobQueue(redis: client, subscriberPingInterval: .milliseconds(200), logger: logger)
        let subscriber = Task { try await jobs.run() }
        do {
            // (A first command can take long on a loaded machine: 500 ms ran out once in CI.)
            try await waitUntil { (try? await Self.pubsubClientIDs(client))?.count == 1 }
            let before = try await Self.pubsubClientIDs(client)
            // Redis answers nobody for 4 s, while every connection stays open: well past the
            // subscriber's ping interval plus the command timeout.
            _ = try await client.send(["CLIENT", "PAUSE", "4000", "ALL"])
            try await waitUntil(seconds: 15) {
                let now = (try? await Self.pubsubClientIDs(client)) ?? []
                return now.count == 1 && now != before
            }
            // The new subscription delivers notices.
            _ = try await jobs.enqueue(EnqueueRequest(id: "j", function: "f", queue: "none", positional: [], keywords: JSONObject(), maxAttempts: 1))
            let waiter = Task { try await jobs.waitForJob(id: "j", timeout: .seconds(30)) }
            try await Task.sleep(for: .milliseconds(200))
            _ = try await client.pipeline([["HSET", jobs.keys.job("j"), "status", "finished"], ["PUBLISH", jobs.keys.completions, "j finished"]])
            #expect(try await waiter.value?.status == .finished)
        } catch {
            subscriber.cancel()
            await client.shutdown()
            await redis.stopAndRemove()
            throw error
        }
        subscriber.cancel()
        _ = try? await subscriber.value
        await client.shutdown()
        await redis.stopAndRemove()
    }
}
