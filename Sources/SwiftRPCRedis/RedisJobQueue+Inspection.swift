import Redis
import SwiftRPC

/// What `swift-rpc workers` shows of one worker.
public struct WorkerStatus: Sendable {
    public var id: String
    public var fields: [String: String]
    public var currentJobs: [String]
}

extension RedisJobQueue {
    public func workers() async throws -> [WorkerStatus] {
        let ids = (try await redis.send(["SMEMBERS", keys.workers]).array ?? []).compactMap(\.string).sorted()
        let replies = try await redis.pipeline(ids.flatMap { [["HGETALL", keys.worker($0)], ["LRANGE", keys.active($0), "0", "-1"]] })
        return ids.enumerated().map { index, id in
            WorkerStatus(
                id: id, fields: replies[2 * index].fields ?? [:],
                currentJobs: (replies[2 * index + 1].array ?? []).compactMap(\.string))
        }
    }

    /// Failed jobs, newest first, of one queue or of every known queue.
    public func failedJobs(queue: String?) async throws -> [JobRecord] {
        let queues: [String]
        if let queue {
            queues = [queue]
        } else {
            queues = (try await redis.send(["SMEMBERS", keys.queues]).array ?? []).compactMap(\.string).sorted()
        }
        var result: [JobRecord] = []
        for name in queues {
            let ids = (try await redis.send(["LRANGE", keys.failed(name), "0", "-1"]).array ?? []).compactMap(\.string)
            let hashes = try await redis.pipeline(ids.map { ["HGETALL", keys.job($0)] })
            for (id, hash) in zip(ids, hashes) {
                var fields = hash.fields ?? [:]
                if fields.isEmpty { fields = ["id": id, "queue": name, "status": "failed"] }  // hash expired
                result.append(JobRecord(fields: fields))
            }
        }
        return result
    }

    /// Takes a job off its failed list and queues it again; `false` when it is not on one.
    public func retryFailed(job id: String) async throws -> Bool {
        guard let record = try await job(id: id) else { return false }
        return try await redis.run(JobScripts.retryFailed, keys: [keys.failed(record.queue), keys.job(id)], arguments: [id, keys.prefix]).int == 1
    }

    /// Deletes the failed lists of one queue or of all, and the hashes of their ids that are
    /// still failed jobs (never a live job that reused an expired id); returns how many hashes.
    public func purgeFailed(queue: String?) async throws -> Int {
        let queues: [String]
        if let queue {
            queues = [queue]
        } else {
            queues = (try await redis.send(["SMEMBERS", keys.queues]).array ?? []).compactMap(\.string)
        }
        var deleted = 0
        for name in queues {
            deleted += try await redis.run(JobScripts.purgeFailed, keys: [keys.failed(name)], arguments: [keys.prefix]).int ?? 0
        }
        return deleted
    }
}
