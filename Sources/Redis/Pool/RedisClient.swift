import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A Redis client: a few multiplexed connections shared by all callers, each replaced when
/// it breaks (after Redis restarts, a timeout or a protocol error), so callers just send.
///
/// Design: hiredis is the RESP codec (format + reader) inside a SwiftNIO channel handler,
/// not a blocking `redisContext`. No Swift concurrency or event-loop thread ever blocks, and
/// concurrent callers' commands share one round trip (FINDINGS.md: 2-3x the throughput of
/// blocking hiredis). Blocking commands (BLMOVE) take a dedicated connection so they never
/// hold up the replies queued behind them.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    public let eventLoopGroup: any EventLoopGroup
    public let logger: Logger
    private let slots: Mutex<[Slot]>
    private let slotCount: Int
    private let nextSlot = Atomic<Int>(0)
    private let isShutdown = Atomic<Bool>(false)

    private enum Slot {
        case idle
        case connecting(EventLoopFuture<RedisConnection>)
        case ready(RedisConnection)
    }

    public init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.slotCount = max(1, configuration.connections)
        self.slots = Mutex(Array(repeating: Slot.idle, count: slotCount))
    }

    /// Sends one command; an error reply is thrown as `.serverError`.
    @discardableResult
    public func send(_ command: [String]) async throws(RedisClientError) -> RESPValue {
        let reply = try await pipeline([command])[0]
        if case .error(let message) = reply { throw RedisClientError(.serverError, message) }
        return reply
    }

    /// Sends the commands in one batch on one connection; replies in order, error replies as `.error`.
    public func pipeline(_ commands: [[String]]) async throws(RedisClientError) -> [RESPValue] {
        try await connection().pipeline(commands)
    }

    /// A connection of its own for blocking commands; closed when `body` returns.
    public func withDedicatedConnection<Result>(
        _ body: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await RedisConnection.connect(configuration, eventLoop: eventLoopGroup.next(), logger: logger)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Closes every connection; later commands fail with `.shutdown`.
    public func shutdown() async {
        isShutdown.store(true, ordering: .relaxed)
        let states = slots.withLock { states in
            defer { states = Array(repeating: .idle, count: slotCount) }
            return states
        }
        for case .ready(let connection) in states { await connection.close() }
    }

    private func connection() async throws(RedisClientError) -> RedisConnection {
        guard !isShutdown.load(ordering: .relaxed) else { throw RedisClientError(.shutdown, "the Redis client is shut down") }
        let index = nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue % slotCount
        let future: EventLoopFuture<RedisConnection> = slots.withLock { states in
            switch states[index] {
            case .ready(let connection) where connection.isActive:
                return connection.channel.eventLoop.makeSucceededFuture(connection)
            case .connecting(let future):
                return future
            case .idle, .ready:
                let promise = eventLoopGroup.next().makePromise(of: RedisConnection.self)
                let configuration = configuration
                let logger = logger
                promise.completeWithTask {
                    try await RedisConnection.connect(configuration, eventLoop: promise.futureResult.eventLoop, logger: logger)
                }
                states[index] = .connecting(promise.futureResult)
                promise.futureResult.whenComplete { result in
                    self.slots.withLock { states in
                        switch result {
                        case .success(let connection): states[index] = .ready(connection)
                        case .failure: states[index] = .idle
                        }
                    }
                }
                return promise.futureResult
            }
        }
        do {
            return try await future.get()
        } catch let error as RedisClientError {
            throw error
        } catch {
            throw RedisClientError(.connectionFailed, "cannot connect to Redis: \(error)")
        }
    }
}
