import Logging
import NIOCore
import NIOPosix

/// One connection to Redis: commands from any number of callers are pipelined on it.
/// Once it has failed it stays closed; the client replaces it.
public final class RedisConnection: Sendable {
    let channel: any Channel
    let configuration: RedisConfiguration

    private init(channel: any Channel, configuration: RedisConfiguration) {
        self.channel = channel
        self.configuration = configuration
    }

    /// Connects, then sends AUTH and SELECT as the configuration asks.
    /// - Parameter onMessage: for a subscriber connection, receives every pub/sub message.
    public static func connect(
        _ configuration: RedisConfiguration, eventLoop: any EventLoop, logger: Logger,
        onMessage: (@Sendable (_ channel: String, _ message: String) -> Void)? = nil
    ) async throws(RedisClientError) -> RedisConnection {
        let commandTimeout = TimeAmount(configuration.commandTimeout)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(TimeAmount(configuration.connectTimeout))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(commandTimeout: commandTimeout, onMessage: onMessage))
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            throw RedisClientError(.connectionFailed, "cannot connect to Redis at \(configuration.host):\(configuration.port): \(error)")
        }
        let connection = RedisConnection(channel: channel, configuration: configuration)
        do {
            var setup: [[String]] = []
            if let password = configuration.password {
                setup.append(configuration.username.map { ["AUTH", $0, password] } ?? ["AUTH", password])
            }
            if configuration.database != 0 { setup.append(["SELECT", String(configuration.database)]) }
            if !setup.isEmpty {
                for reply in try await connection.pipeline(setup) {
                    if case .error(let message) = reply { throw RedisClientError(.connectionFailed, "Redis refused the connection setup: \(message)") }
                }
            }
        } catch {
            await connection.close()
            throw RedisClientError(.connectionFailed, error.message)
        }
        logger.debug("connected to Redis", metadata: ["redis": "\(configuration.redactedURL)"])
        return connection
    }

    public var isActive: Bool { channel.isActive }

    /// The event loop the connection lives on, where its replies arrive.
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Completes when the connection has closed, for whatever reason.
    public func closed() async {
        try? await channel.closeFuture.get()
    }

    /// Sends the commands as one batch and returns their replies in order; error replies are
    /// returned as `.error`, not thrown, so a caller sees each command's outcome.
    public func pipeline(_ commands: [[String]], extraTimeout: Duration = .zero) async throws(RedisClientError) -> [RESPValue] {
        try await submit(commands, extraTimeout: TimeAmount(extraTimeout)).redisValue
    }

    /// `pipeline` for callers on an event loop: the replies as a future on this connection's
    /// loop, failed only with `RedisClientError`. Called on that loop (the front's hot path),
    /// the batch is written at once, with no hop to another thread.
    public func submit(_ commands: [[String]], extraTimeout: TimeAmount = .zero) -> EventLoopFuture<[RESPValue]> {
        guard !commands.isEmpty else { return channel.eventLoop.makeSucceededFuture([]) }  // no reply would complete an empty batch
        let promise = channel.eventLoop.makePromise(of: [RESPValue].self)
        let request = RedisRequest(commands: commands, promise: promise, extraTimeout: extraTimeout)
        if channel.eventLoop.inEventLoop && channel.isActive {
            // The handler is in the pipeline while the channel is active: it takes the request.
            channel.writeAndFlush(request, promise: nil)
        } else {
            // A write that fails before the handler holds the request (the channel closed on
            // the way) must fail the request too, or its caller would wait forever.
            let written = channel.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenFailure { error in
                promise.fail(RedisClientError(.connectionClosed, "cannot write to Redis: \(error)"))
            }
            channel.writeAndFlush(request, promise: written)
        }
        return promise.futureResult
    }

    public func close() async {
        try? await channel.close()
    }

    /// Closes the connection without waiting; commands in flight fail with `.connectionClosed`.
    /// (Withdraws a blocking command: Redis drops the client and with it the wait.)
    public func abort() {
        channel.close(promise: nil)
    }
}

extension Error {
    var message: String {
        (self as? RedisClientError)?.message ?? String(describing: self)
    }
}
