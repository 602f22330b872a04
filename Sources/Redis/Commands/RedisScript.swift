import Synchronization

/// A Lua script run with EVALSHA; loaded on first use, and again after Redis restarts
/// (its script cache is then empty and answers NOSCRIPT).
public final class RedisScript: Sendable {
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(_ source: String) { self.source = source }

    func loadedSHA(_ client: RedisClient, reload: Bool) async throws(RedisClientError) -> String {
        if !reload, let known = sha.withLock({ $0 }) { return known }
        let reply = try await client.send(["SCRIPT", "LOAD", source])
        guard let loaded = reply.string else { throw RedisClientError(.unexpectedReply, "SCRIPT LOAD answered \(reply)") }
        sha.withLock { $0 = loaded }
        return loaded
    }
}

extension RedisClient {
    /// Runs `script` atomically on the server; an error reply is thrown as `.serverError`.
    @discardableResult
    public func run(_ script: RedisScript, keys: [String], arguments: [String]) async throws(RedisClientError) -> RESPValue {
        for reload in [false, true] {
            let sha = try await script.loadedSHA(self, reload: reload)
            let reply = try await pipeline([["EVALSHA", sha, String(keys.count)] + keys + arguments])[0]
            if case .error(let message) = reply {
                if message.hasPrefix("NOSCRIPT") { continue }
                throw RedisClientError(.serverError, message)
            }
            return reply
        }
        throw RedisClientError(.serverError, "Redis keeps forgetting a script (NOSCRIPT after SCRIPT LOAD)")
    }
}
