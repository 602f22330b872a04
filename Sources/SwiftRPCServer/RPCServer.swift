import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The front on SwiftNIO: HTTP, and raw TCP (SPEC §9) when `tcpPort` is set, both over the
/// router's one `Dispatcher`. As a `Service` it serves until graceful shutdown, then stops
/// accepting, lets in-flight calls answer, and returns.
public final class RPCServer: Service, Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// The largest request body accepted (exactly this many bytes is allowed).
        public var maxBodyBytes: Int
        /// Connections open at once, HTTP and TCP together; one more gets 503 and is closed.
        public var maxConnections: Int
        /// Connections one client address may hold open, HTTP and TCP together; 0 for no limit.
        public var maxConnectionsPerIP: Int
        /// The raw TCP port (SPEC §9); `nil` serves no TCP. 0 picks a free port.
        public var tcpPort: Int?
        /// A TCP connection with no complete request this long is closed.
        public var tcpIdleTimeout: Duration
        /// A kept-alive connection with no request this long is closed.
        public var idleTimeout: Duration
        /// A request must arrive whole within this time of its first byte, else 408.
        public var requestTimeout: Duration
        /// Serve HTTPS with this context; plain HTTP to the port then fails the handshake.
        public var tls: NIOSSLContext?

        public init(
            host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = 1_048_576, maxConnections: Int = 10_000,
            idleTimeout: Duration = .seconds(60), requestTimeout: Duration = .seconds(30), tls: NIOSSLContext? = nil,
            maxConnectionsPerIP: Int = 0, tcpPort: Int? = nil, tcpIdleTimeout: Duration = .seconds(60)
        ) {
            self.host = host
            self.port = port
            self.maxBodyBytes = maxBodyBytes
            self.maxConnections = maxConnections
            self.maxConnectionsPerIP = maxConnectionsPerIP
            self.tcpPort = tcpPort
            self.tcpIdleTimeout = tcpIdleTimeout
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
    private let tcpChannel = Mutex<(any Channel)?>(nil)
    /// Set by the first shutdown request; later ones wait for the same one.
    private let drained = Mutex<EventLoopFuture<Void>?>(nil)

    public init(configuration: Configuration, router: RPCRouter, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.configuration = configuration
        self.router = router
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.quiesce = ServerQuiescingHelper(group: eventLoopGroup)
    }

    /// Binds and starts accepting; returns the bound HTTP address (port 0 picks a free port).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let router = router
        let maxBodyBytes = configuration.maxBodyBytes
        let connections = ConnectionCounter(limit: configuration.maxConnections, perAddressLimit: configuration.maxConnectionsPerIP)
        let idleTimeout = TimeAmount(configuration.idleTimeout)
        let requestTimeout = TimeAmount(configuration.requestTimeout)
        let channel = try await bind(port: configuration.port) { pipeline in
            try pipeline.addHandler(ConnectionLimitHandler(counter: connections, refusal: ConnectionLimitHandler.httpRefusal))
            let timeouts = ConnectionTimeoutHandler(idleTimeout: idleTimeout, requestTimeout: requestTimeout)
            try pipeline.addHandler(timeouts)
            // Malformed HTTP is answered by HTTPHandler (a JSON 400), not NIO's error handler;
            // HTTPHandler also keeps pipelined requests in order.
            try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
            try pipeline.addHandler(HTTPHandler(router: router, maxBodyBytes: maxBodyBytes, connectionEvents: timeouts.events))
        }
        serverChannel.withLock { $0 = channel }
        if let tcpPort = configuration.tcpPort {
            let dispatcher = router.dispatcher
            let policy = router.configuration.accessPolicy
            let tcpIdleTimeout = TimeAmount(configuration.tcpIdleTimeout)
            let logger = logger
            let tcp = try await bind(port: tcpPort) { pipeline in
                try pipeline.addHandler(ConnectionLimitHandler(counter: connections, refusal: nil))
                try pipeline.addHandler(TCPFramingDetector(maxFrameBytes: maxBodyBytes))
                try pipeline.addHandler(
                    TCPCallHandler(dispatcher: dispatcher, policy: policy, idleTimeout: tcpIdleTimeout, maxFrameBytes: maxBodyBytes, logger: logger))
            }
            tcpChannel.withLock { $0 = tcp }
        }
        return channel.localAddress!
    }

    /// The bound TCP address, once started with a `tcpPort`.
    public var tcpAddress: SocketAddress? {
        tcpChannel.withLock { $0?.localAddress }
    }

    /// A listening socket whose connections get TLS (when configured) and then `handlers`;
    /// both ports are under the one quiescing helper, so a shutdown drains both.
    private func bind(
        port: Int, handlers: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Void
    ) async throws -> any Channel {
        let tls = configuration.tls
        let quiesce = quiesce
        return try await ServerBootstrap(group: eventLoopGroup)
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
                    // TLS first, so everything written below it (503 and 408 included) is encrypted.
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try handlers(channel.pipeline.syncOperations)
                }
            }
            .bind(host: configuration.host, port: port)
            .get()
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
        if let tcp = tcpAddress {
            logger.info("listening for raw TCP", metadata: ["address": "\(configuration.tls == nil ? "tcp" : "tls")://\(configuration.host):\(tcp.port ?? 0)"])
        }
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
