import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The HTTP front on SwiftNIO. As a `Service` it serves until graceful shutdown, then stops
/// accepting, lets in-flight calls answer, and returns.
public final class RPCServer: Service, Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// The largest request body accepted (exactly this many bytes is allowed).
        public var maxBodyBytes: Int
        /// Connections open at once; one more gets 503 and is closed.
        public var maxConnections: Int
        /// A kept-alive connection with no request this long is closed.
        public var idleTimeout: Duration
        /// A request must arrive whole within this time of its first byte, else 408.
        public var requestTimeout: Duration
        /// Serve HTTPS with this context; plain HTTP to the port then fails the handshake.
        public var tls: NIOSSLContext?

        public init(
            host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = 1_048_576, maxConnections: Int = 10_000,
            idleTimeout: Duration = .seconds(60), requestTimeout: Duration = .seconds(30), tls: NIOSSLContext? = nil
        ) {
            self.host = host
            self.port = port
            self.maxBodyBytes = maxBodyBytes
            self.maxConnections = maxConnections
            self.idleTimeout = idleTimeout
            self.requestTimeout = requestTimeout
            self.tls = tls
        }
    }

    public let configuration: Configuration
    public let router: RPCRouter
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let quiesce: ServerQuiescingHelper
    private let serverChannel = Mutex<(any Channel)?>(nil)
    /// Set by the first shutdown request; later ones wait for the same one.
    private let drained = Mutex<EventLoopFuture<Void>?>(nil)

    public init(configuration: Configuration, router: RPCRouter, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.configuration = configuration
        self.router = router
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.quiesce = ServerQuiescingHelper(group: eventLoopGroup)
    }

    /// Binds and starts accepting; returns the bound address (port 0 picks a free port).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let router = router
        let maxBodyBytes = configuration.maxBodyBytes
        let connections = ConnectionCounter(limit: configuration.maxConnections)
        let idleTimeout = TimeAmount(configuration.idleTimeout)
        let requestTimeout = TimeAmount(configuration.requestTimeout)
        let tls = configuration.tls
        let quiesce = quiesce
        let channel = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let timeouts = ConnectionTimeoutHandler(idleTimeout: idleTimeout, requestTimeout: requestTimeout)
                    // TLS first, so everything written below it (503 and 408 included) is encrypted.
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(ConnectionLimitHandler(counter: connections))
                    try channel.pipeline.syncOperations.addHandler(timeouts)
                    // Malformed HTTP is answered by HTTPHandler (a JSON 400), not NIO's error handler.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false)
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPHandler(router: router, maxBodyBytes: maxBodyBytes, connectionEvents: timeouts.events))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        serverChannel.withLock { $0 = channel }
        return channel.localAddress!
    }

    /// True while the server accepts connections.
    public var isListening: Bool {
        serverChannel.withLock { $0?.isActive ?? false }
    }

    /// Stops accepting, closes idle connections, lets in-flight calls answer, then returns.
    public func shutdown() async {
        try? await beginShutdown().get()
        await router.shutdown()
    }

    private func beginShutdown() -> EventLoopFuture<Void> {
        drained.withLock { drained in
            if let drained { return drained }
            let promise = eventLoopGroup.next().makePromise(of: Void.self)
            quiesce.initiateShutdown(promise: promise)
            drained = promise.futureResult
            return promise.futureResult
        }
    }

    public func run() async throws {
        let address = try await start()
        let scheme = configuration.tls == nil ? "http" : "https"
        logger.info("listening", metadata: ["address": "\(scheme)://\(configuration.host):\(address.port ?? configuration.port)"])
        let channel = serverChannel.withLock { $0 }!
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            self.logger.info("graceful shutdown: no new connections; answering the calls in flight")
            _ = self.beginShutdown()
        }
        await shutdown()
        logger.info("front stopped")
    }
}
