import NIOCore
import Synchronization

/// A Lua script run with EVALSHA; loaded on first use, and again after Redis restarts
/// (its script cache is then empty and answers NOSCRIPT).
public final class RedisScript: Sendable {
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(_ source: String) { self.source = source }

    /// The script's SHA once loaded; `nil` before its first use.
    var knownSHA: String? { sha.withLock { $0 } }

    func remember(_ loaded: String) { sha.withLock { $0 = loaded } }
}

extension RedisClient {
    /// Runs `script` atomically on the server; an error reply is thrown as `.serverError`.
    @discardableResult
    public func run(_ script: RedisScript, keys: [String], arguments: [String]) async throws(RedisClientError) -> RESPValue {
        try await run(script, keys: keys, arguments: arguments, on: eventLoopGroup.any()).redisValue
    }

    /// `run` for callers on an event loop: the reply as a future on `eventLoop`. EVALSHA first;
    /// the script is loaded on first use, and again when Redis has forgotten it (NOSCRIPT after
    /// a restart empties its script cache).
    public func run(_ script: RedisScript, keys: [String], arguments: [String], on eventLoop: any EventLoop) -> EventLoopFuture<RESPValue> {
        @Sendable func evalsha(_ sha: String, reloadOnNoScript: Bool) -> EventLoopFuture<RESPValue> {
            var command: [String] = []
            command.reserveCapacity(3 + keys.count + arguments.count)
            command.append("EVALSHA")
            command.append(sha)
            command.append(String(keys.count))
            command += keys
            command += arguments
            return submit([command], on: eventLoop).flatMap { replies in
                switch replies[0] {
                case .error(let message) where message.hasPrefix("NOSCRIPT") && reloadOnNoScript:
                    return loadAndRun()
                case .error(let message):
                    return eventLoop.makeFailedFuture(RedisClientError(.serverError, message))
                case let reply:
                    return eventLoop.makeSucceededFuture(reply)
                }
            }
        }
        @Sendable func loadAndRun() -> EventLoopFuture<RESPValue> {
            submit([["SCRIPT", "LOAD", script.source]], on: eventLoop).flatMap { replies in
                guard let loaded = replies[0].string else {
                    return eventLoop.makeFailedFuture(RedisClientError(.unexpectedReply, "SCRIPT LOAD answered \(replies[0])"))
                }
                script.remember(loaded)
                return evalsha(loaded, reloadOnNoScript: false)
            }
        }
        return script.knownSHA.map { evalsha($0, reloadOnNoScript: true) } ?? loadAndRun()
    }
}
