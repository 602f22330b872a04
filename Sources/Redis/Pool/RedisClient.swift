import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A Redis client: a few multiplexed connections shared by all callers, each replaced when
/// it breaks (after Redis restarts, a timeout or a protocol error), so callers just send.
///
/// Design: a SwiftNIO channel handler writes RESP and decodes replies with hiredis's reader,
/// not a blocking `redisContext`. No Swift concurrency or event-loop thread ever blocks, and
/// concurrent callers' commands share one round trip (FINDINGS.md: 2-3x the throughput of
/// blocking hiredis). Each event loop has a connection of its own, so a caller on a loop (the
/// front's handlers) writes and reads its replies without leaving its thread. Blocking
/// commands (BLMOVE) take a dedicated connection so they never hold up the replies queued
/// behind them.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    public let eventLoopGroup: any EventLoopGroup
    public let logger: Logger
    private let slots: Mutex<[Slot]>
    /// The group's event loops. Slot `i`'s connection lives on `loops[i % loops.count]`, so
    /// with at least as many connections as loops, each loop has its own.
    private let loops: [any EventLoop]
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
        self.loops = Array(eventLoopGroup.makeIterator())
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
        try await submit(commands, on: eventLoopGroup.any()).redisValue
    }

    /// `pipeline` for callers on an event loop: the replies as a future on `eventLoop`, failed
    /// only with `RedisClientError`. It uses a connection on that same loop when there is one,
    /// so a call from a channel handler never leaves its thread.
    public func submit(_ commands: [[String]], on eventLoop: any EventLoop) -> EventLoopFuture<[RESPValue]> {
        let replies: EventLoopFuture<[RESPValue]>
        switch connection(near: eventLoop) {
        case .success(let connection): replies = connection.submit(commands)
        case .failure(let error): return eventLoop.makeFailedFuture(error)
        case .pending(let connecting): replies = connecting.flatMap { $0.submit(commands) }
        }
        return replies.hop(to: eventLoop)  // itself when the connection lives on `eventLoop`
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

    private enum Lookup {
        case success(RedisConnection)
        case failure(RedisClientError)
        case pending(EventLoopFuture<RedisConnection>)
    }

    /// A connection from the next slot on `eventLoop` (any slot when none is on it); a broken
    /// or missing one is replaced, and callers meanwhile wait for the same new connection.
    private func connection(near eventLoop: any EventLoop) -> Lookup {
        guard !isShutdown.load(ordering: .relaxed) else { return .failure(RedisClientError(.shutdown, "the Redis client is shut down")) }
        let turn = nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue
        let index = nearSlot(eventLoop, turn: turn) ?? turn % slotCount
        return slots.withLock { states in
            switch states[index] {
            case .ready(let connection) where connection.isActive:
                return .success(connection)
            case .connecting(let future):
                return .pending(future)
            case .idle, .ready:
                let loop = loops[index % loops.count]
                let promise = loop.makePromise(of: RedisConnection.self)
                let configuration = configuration
                let logger = logger
                promise.completeWithTask {
                    try await RedisConnection.connect(configuration, eventLoop: loop, logger: logger)
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
                return .pending(promise.futureResult)  // fails with the connect's RedisClientError
            }
        }
    }

    /// The `turn`-th of the slots whose connection lives on `eventLoop`, if any does.
    private func nearSlot(_ eventLoop: any EventLoop, turn: Int) -> Int? {
        guard let first = loops.firstIndex(where: { $0 === eventLoop }), first < slotCount else { return nil }
        let onThisLoop = (slotCount - first + loops.count - 1) / loops.count
        return first + (turn % onThisLoop) * loops.count
    }
}
