import Logging
import NIOCore
import NIOHTTP1
import SwiftRPC

/// One HTTP request as the front received it, body complete.
public struct RPCRequest: Sendable {
    public var method: HTTPMethod
    /// The path without the query string.
    public var path: Substring
    public var query: Substring?
    public var headers: HTTPHeaders
    public var body: ByteBuffer

    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.method = method
        if let question = uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            self.path = uri[..<question]
            self.query = uri[uri.index(after: question)...]
        } else {
            self.path = Substring(uri)
            self.query = nil
        }
        self.headers = headers
        self.body = body
    }

    /// The call this request makes by SPEC §3: arguments from the body or the query string, options, wait.
    func decodeCall() throws(RPCError) -> DecodedCall {
        let contentType = headers.first(name: "content-type")
        let query = query.map(String.init)
        return try body.withReadableBytes { (bytes) throws(RPCError) in try CallDecoder.decode(contentType: contentType, body: bytes, query: query) }
    }
}

extension ByteBuffer {
    /// The readable bytes parsed as JSON where they lie, without copying them out.
    func parseJSON() throws(JSONParser.Error) -> JSONValue {
        try withReadableBytes { (bytes) throws(JSONParser.Error) in try JSONParser.parse(bytes) }
    }

    /// `withUnsafeReadableBytes`, keeping the body's typed error (NIO's version only rethrows `any Error`).
    func withReadableBytes<T, Failure: Error>(_ body: (UnsafeRawBufferPointer) throws(Failure) -> T) throws(Failure) -> T {
        try withUnsafeReadableBytes { bytes in Result { () throws(Failure) in try body(bytes) } }.get()
    }
}

/// The HTTP side of the front: the filters and decryption middleware around the routes, over
/// one `Dispatcher` that every protocol shares. Tests may call `respond` without a socket.
public final class RPCRouter: Sendable {
    public struct Configuration: Sendable {
        /// Threads of the pool that runs `pool` functions.
        public var poolThreads: Int
        /// Calls that may wait for a pool thread; past that a call gets 503.
        public var poolQueueLimit: Int
        /// How long `/healthz` waits for Redis.
        public var healthTimeout: Duration
        /// User-Agent, client IP and token filters.
        public var accessPolicy: AccessPolicy
        /// Keys for the `Encryption:` header's modes.
        public var encryption: BodyEncryption

        public init(
            poolThreads: Int = 64, poolQueueLimit: Int = 1024, healthTimeout: Duration = .seconds(2), accessPolicy: AccessPolicy = AccessPolicy(),
            encryption: BodyEncryption = BodyEncryption()
        ) {
            self.poolThreads = poolThreads
            self.poolQueueLimit = poolQueueLimit
            self.healthTimeout = healthTimeout
            self.accessPolicy = accessPolicy
            self.encryption = encryption
        }
    }

    public let dispatcher: Dispatcher
    public let configuration: Configuration
    private let responder: AccessFilter<Decryption<HTTPRoutes>>

    public var registry: FunctionRegistry { dispatcher.registry }
    public var metrics: RPCMetrics { dispatcher.metrics }

    public init(registry: FunctionRegistry, jobs: (any JobQueueDriver)?, configuration: Configuration = Configuration(), logger: Logger) {
        let dispatcher = Dispatcher(
            registry: registry, jobs: jobs, configuration: .init(poolThreads: configuration.poolThreads, poolQueueLimit: configuration.poolQueueLimit),
            logger: logger)
        self.dispatcher = dispatcher
        self.configuration = configuration
        self.responder = AccessFilter(
            policy: configuration.accessPolicy,
            next: Decryption(encryption: configuration.encryption, next: HTTPRoutes(dispatcher: dispatcher, healthTimeout: configuration.healthTimeout)))
    }

    /// Stops the pool once its running calls are done.
    public func shutdown() async {
        await dispatcher.shutdown()
    }

    /// - Parameter remoteAddress: the client socket's address, for the IP filter.
    public func respond(to request: RPCRequest, remoteAddress: SocketAddress?, on eventLoop: any EventLoop) -> RPCReply {
        responder.respond(to: request, context: RequestContext(remoteAddress: remoteAddress, eventLoop: eventLoop))
    }

    /// - Parameter peer: the client address as text (tests without a socket).
    public func respond(to request: RPCRequest, peer: String?, on eventLoop: any EventLoop) -> RPCReply {
        respond(to: request, remoteAddress: peer.flatMap { try? SocketAddress(ipAddress: $0, port: 0) }, on: eventLoop)
    }
}

/// The path switch: built-in routes, the protocol endpoints, and `/{func}` (SPEC §3).
struct HTTPRoutes: HTTPResponder {
    let dispatcher: Dispatcher
    let healthTimeout: Duration

    func respond(to request: RPCRequest, context: RequestContext) -> RPCReply {
        let eventLoop = context.eventLoop
        // As a String, a path of up to 15 bytes compares with each literal as two machine words.
        switch String(request.path) {
        case "/healthz":
            return onlyGET(request) { .later(health(on: eventLoop)) }
        case "/metrics":
            return onlyGET(request) {
                .later(
                    eventLoop.makeFutureWithTask {
                        let body = dispatcher.metrics.exposition() + Array(await dispatcher.jobMetrics().utf8)
                        return RPCResponse(status: .ok, body: body, contentType: "text/plain; version=0.0.4")
                    })
            }
        case "/functions":
            return onlyGET(request) { .now(.json(["functions": .array(dispatcher.functionListing)])) }
        case "/_getroutes":
            return onlyGET(request) { .now(.result(.array(dispatcher.functionNames.map(JSONValue.string)))) }
        case "/jsonrpc":
            return onlyPOST(request) { JSONRPCCodec.respond(to: request.body, dispatcher: dispatcher, on: eventLoop) }
        case "/RPC2":
            return onlyPOST(request) { XMLRPCCodec.respond(to: request.body, dispatcher: dispatcher, on: eventLoop) }
        case "/rpc":
            return onlyPOST(request) { SingleEndpointCodec.respond(to: request, dispatcher: dispatcher, on: eventLoop) }
        case _ where request.path.utf8.starts(with: "/jobs/".utf8):
            return jobRoute(request, on: eventLoop)
        case "/dashboard", "/dashboard/", _ where request.path.utf8.starts(with: "/api/".utf8):
            return Dashboard(dispatcher: dispatcher).respond(to: request, on: eventLoop)
        default:
            return callFunction(request, on: eventLoop)
        }
    }

    private func onlyGET(_ request: RPCRequest, _ answer: () -> RPCReply) -> RPCReply {
        guard request.method == .GET || request.method == .HEAD else {
            return .now(.error(RPCError(.methodNotAllowed, "\(request.path) answers GET only")))
        }
        return answer()
    }

    private func onlyPOST(_ request: RPCRequest, _ answer: () -> RPCReply) -> RPCReply {
        guard request.method == .POST else { return .now(.error(RPCError(.methodNotAllowed, "\(request.path) answers POST only"))) }
        return answer()
    }

    private func health(on eventLoop: any EventLoop) -> EventLoopFuture<RPCResponse> {
        eventLoop.makeFutureWithTask {
            switch await dispatcher.jobStoreIsUp(timeout: healthTimeout) {
            case nil: .json(["status": "ok"])
            case true?: .json(["status": "ok", "redis": "up"])
            case false?: .json(["status": "degraded", "redis": "down"], status: .serviceUnavailable)
            }
        }
    }

    /// `GET /jobs/{id}[?wait=SECONDS]`: the bare job JSON.
    private func jobRoute(_ request: RPCRequest, on eventLoop: any EventLoop) -> RPCReply {
        guard request.method == .GET || request.method == .HEAD else {
            return .now(.error(RPCError(.methodNotAllowed, "/jobs/{id} answers GET only")))
        }
        let wait: Double?
        do {
            wait = try CallDecoder.wait(query: request.query.map(String.init))
        } catch {
            return .now(.error(error))
        }
        return dispatcher.lookUp(String(request.path.dropFirst("/jobs/".count)), wait: wait, on: eventLoop).map { found in
            switch found {
            case .success(let record): .json(record.json)
            case .failure(let error): .error(error)
            }
        }
    }

    /// `/{func}`: swift_rpc's own protocol, the native one.
    private func callFunction(_ request: RPCRequest, on eventLoop: any EventLoop) -> RPCReply {
        let name = request.path.dropFirst()
        guard let target = dispatcher.target(named: name) else { return .now(.error(.unknownFunction(String(name.prefix(128))))) }
        guard request.method == .GET || request.method == .POST else {
            return .now(.error(RPCError(.methodNotAllowed, "call functions with GET or POST, not \(request.method)")))
        }
        var call: DecodedCall
        do {
            call = try request.decodeCall()
        } catch {
            return .now(.error(error))
        }
        call.traceParent = request.headers.first(name: "traceparent").flatMap { TraceParent($0) }
        return dispatcher.call(target, call, on: eventLoop).map(Self.response)
    }

    /// SPEC §3's answers: `{"response": value}`, 202 with the job, or the error.
    @Sendable static func response(_ outcome: CallOutcome) -> RPCResponse {
        switch outcome {
        case .value(let value):
            return .result(value)
        case .job(let ticket):
            return .json(ticket.json, status: .accepted, headers: [("Location", "/jobs/\(ticket.id)")])
        case .jobEnded(let id, .success(let value)):
            return .json(["response": value, "job_id": .string(id)])
        case .jobEnded(let id, .failure(let error)):
            return .json(["error": error.errorObject, "job_id": .string(id)], status: HTTPResponseStatus(statusCode: error.status))
        case .failure(let error):
            return .error(error)
        }
    }
}
