import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A small HTTP/1 server for a process's own `GET /metrics` and `GET /healthz` (a worker's
/// `--metrics-port`, SPEC §10): each path answers from its closure, anything else is 404, and
/// every connection closes after its answer. As a `Service` it serves until graceful shutdown.
public final class OperationsServer: Service, Sendable {
    public struct Answer: Sendable {
        public var status: HTTPResponseStatus
        public var contentType: String
        public var body: String

        public init(status: HTTPResponseStatus = .ok, contentType: String, body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    public typealias Route = @Sendable () async -> Answer

    public let host: String
    private let requestedPort: Int
    private let routes: [String: Route]
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let bound = Mutex<Int?>(nil)

    /// `routes` by path, e.g. `["/metrics": …, "/healthz": …]`. Port 0 picks a free one.
    public init(host: String, port: Int, routes: [String: Route], eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.host = host
        self.requestedPort = port
        self.routes = routes
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// The port it listens on, once `run` has bound it.
    public var port: Int? { bound.withLock { $0 } }

    public func run() async throws {
        let routes = self.routes
        let channel = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false)
                    try channel.pipeline.syncOperations.addHandler(OperationsHandler(routes: routes))
                }
            }
            .bind(host: host, port: requestedPort).get()
        let port = channel.localAddress?.port ?? requestedPort
        bound.withLock { $0 = port }
        logger.info("metrics and health on http://\(host):\(port)/metrics and /healthz")
        try? await gracefulShutdown()
        try await channel.close()
    }
}

/// Answers one request per connection from the server's routes.
private final class OperationsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: [String: OperationsServer.Route]
    private var head: HTTPRequestHead?

    init(routes: [String: OperationsServer.Route]) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let answer: EventLoopFuture<OperationsServer.Answer>
            if head.method != .GET && head.method != .HEAD {
                answer = context.eventLoop.makeSucceededFuture(.init(status: .methodNotAllowed, contentType: "text/plain", body: "GET only\n"))
            } else if let route = routes[path] {
                answer = context.eventLoop.makeFutureWithTask { await route() }
            } else {
                answer = context.eventLoop.makeSucceededFuture(.init(status: .notFound, contentType: "text/plain", body: "not found: try /metrics or /healthz\n"))
            }
            let isHEAD = head.method == .HEAD
            let context = NIOLoopBound(context, eventLoop: context.eventLoop)
            answer.whenSuccess { answer in
                let context = context.value
                var headers = HTTPHeaders([("Content-Type", answer.contentType), ("Content-Length", String(answer.body.utf8.count)), ("Connection", "close")])
                headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
                context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: answer.status, headers: headers))), promise: nil)
                if !isHEAD {
                    context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(string: answer.body)))), promise: nil)
                }
                context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
            }
        }
    }
}
