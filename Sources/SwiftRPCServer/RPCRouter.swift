import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
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
        if let question = uri.firstIndex(of: "?") {
            self.path = uri[..<question]
            self.query = uri[uri.index(after: question)...]
        } else {
            self.path = Substring(uri)
            self.query = nil
        }
        self.headers = headers
        self.body = body
    }
}

extension RPCRequest {
    /// The call this request makes: arguments from the body or the query string, options, wait.
    func decodeCall() throws(RPCError) -> DecodedCall {
        try CallDecoder.decode(
            contentType: headers.first(name: "content-type"), body: Array(body.readableBytesView), query: query.map(String.init))
    }
}

/// An answer that is ready now (inline functions, errors) or later (async, pool, Redis).
public enum RPCReply {
    case now(RPCResponse)
    case later(EventLoopFuture<RPCResponse>)
}

/// Routes requests to the built-in endpoints and the registered functions, and runs each
/// function in its mode: `sync` inline on the event loop, `async` as a task, `pool` on a
/// bounded thread pool of its own (so blocked calls never hold up the event loops).
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

    public let registry: FunctionRegistry
    public let metrics: RPCMetrics
    let configuration: Configuration
    let jobs: (any JobQueueDriver)?
    let logger: Logger
    private let pool: NIOThreadPool
    private let poolCallsInFlight = Atomic<Int>(0)

    public init(registry: FunctionRegistry, jobs: (any JobQueueDriver)?, configuration: Configuration = Configuration(), logger: Logger) {
        self.registry = registry
        self.jobs = jobs
        self.configuration = configuration
        self.logger = logger
        self.metrics = RPCMetrics(functions: registry.functions, builtIns: jobs == nil ? [] : [Self.getResultName])
        self.pool = NIOThreadPool(numberOfThreads: configuration.poolThreads)
        pool.start()
    }

    /// Stops the pool once its running calls are done.
    public func shutdown() async {
        try? await pool.shutdownGracefully()
    }

    /// - Parameter peer: the client socket's address as text, for the IP filter.
    public func respond(to request: RPCRequest, peer: String?, on eventLoop: any EventLoop) -> RPCReply {
        // The filters run before the route is looked up, on every route but the health probe.
        guard request.path != "/healthz" else { return afterFilters(request, on: eventLoop) }
        switch configuration.accessPolicy.check(headers: request.headers, peer: peer) {
        case .allowed:
            return afterFilters(request, on: eventLoop)
        case .refused(let error):
            return .now(.error(error))
        case .verifyJWT(let token):
            guard let verifier = configuration.accessPolicy.jwt else { return .now(.error(RPCError(.unauthorized, "the token is not valid"))) }
            return .later(
                eventLoop.makeFutureWithTask { await verifier.verify(token) }.flatMap { refusal in
                    if let refusal { return eventLoop.makeSucceededFuture(.error(refusal)) }
                    switch self.afterFilters(request, on: eventLoop) {
                    case .now(let response): return eventLoop.makeSucceededFuture(response)
                    case .later(let future): return future
                    }
                })
        }
    }

    /// Decrypts the body when the request asks for it, routes, and seals the answer for aes-gcm.
    private func afterFilters(_ request: RPCRequest, on eventLoop: any EventLoop) -> RPCReply {
        guard let header = request.headers.first(name: "encryption") else { return route(request, on: eventLoop) }
        // An encrypted body is decoded before anything reads it; a failure runs nothing.
        var decoded = request
        let mode: BodyEncryption.Mode
        do {
            mode = try configuration.encryption.mode(for: header)
            decoded.body = ByteBuffer(bytes: try configuration.encryption.decode(Array(request.body.readableBytesView), mode: mode))
        } catch {
            return .now(.error(error))
        }
        let encryption = configuration.encryption
        func seal(_ response: RPCResponse) -> RPCResponse {
            guard let sealed = encryption.encodeAnswer(response.body, mode: mode) else { return response }
            var answer = response
            answer.body = sealed
            answer.contentType = "text/plain; charset=utf-8"
            answer.headers.append(("Encryption", "aes-gcm"))
            return answer
        }
        switch route(decoded, on: eventLoop) {
        case .now(let response): return .now(seal(response))
        case .later(let future): return .later(future.map(seal))
        }
    }

    private func route(_ request: RPCRequest, on eventLoop: any EventLoop) -> RPCReply {
        switch request.path {
        case "/healthz": return builtIn(request) { .later(self.health(on: eventLoop)) }
        case "/metrics":
            return builtIn(request) {
                .later(
                    eventLoop.makeFutureWithTask {
                        let body = self.metrics.exposition() + Array(await self.jobMetrics().utf8)
                        return RPCResponse(status: .ok, body: body, contentType: "text/plain; version=0.0.4")
                    })
            }
        case "/functions":
            return builtIn(request) { .now(.json(["functions": .array(self.functionListing)])) }
        case "/_getroutes":
            return builtIn(request) { .now(.result(.array(self.functionNames.map(JSONValue.string)))) }
        case _ where request.path.hasPrefix("/jobs/"):
            return jobRoute(request, on: eventLoop)
        default:
            return callFunction(request, on: eventLoop)
        }
    }

    /// `GET /functions`: every registered function, and `get_result` when there is a job queue.
    var functionListing: [JSONValue] {
        registry.functions.map(\.listing) + (jobs == nil ? [] : [Self.getResultListing])
    }

    var functionNames: [String] {
        registry.names + (jobs == nil ? [] : [Self.getResultName])
    }

    private func builtIn(_ request: RPCRequest, _ answer: () -> RPCReply) -> RPCReply {
        guard request.method == .GET || request.method == .HEAD else {
            return .now(.error(RPCError(.methodNotAllowed, "\(request.path) answers GET only")))
        }
        return answer()
    }

    private func health(on eventLoop: any EventLoop) -> EventLoopFuture<RPCResponse> {
        guard let jobs else { return eventLoop.makeSucceededFuture(.json(["status": "ok"])) }
        let timeout = configuration.healthTimeout
        return eventLoop.makeFutureWithTask {
            let up = await withTaskGroup(of: Bool.self) { group in
                group.addTask { (try? await jobs.ping()) != nil }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            return up ? .json(["status": "ok", "redis": "up"]) : .json(["status": "degraded", "redis": "down"], status: .serviceUnavailable)
        }
    }

    // MARK: - Function calls

    private func callFunction(_ request: RPCRequest, on eventLoop: any EventLoop) -> RPCReply {
        let name = request.path.dropFirst()
        if name == Self.getResultName, jobs != nil {
            let started = ContinuousClock.now
            let reply = getResult(request, on: eventLoop)
            record(reply, function: Self.getResultName, started: started)
            return reply
        }
        guard let function = FunctionRegistry.isValidName(name) ? registry.function(named: String(name)) : nil else {
            return .now(.error(.unknownFunction(String(name.prefix(128)))))
        }
        guard request.method == .GET || request.method == .POST else {
            return .now(.error(RPCError(.methodNotAllowed, "call functions with GET or POST, not \(request.method)")))
        }
        let started = ContinuousClock.now
        let reply = dispatch(function, request, on: eventLoop)
        record(reply, function: function.name, started: started)
        return reply
    }

    private func record(_ reply: RPCReply, function: String, started: ContinuousClock.Instant) {
        switch reply {
        case .now(let response):
            metrics.record(function: function, duration: .now - started, errorCode: response.errorCode)
        case .later(let future):
            future.whenSuccess { response in
                self.metrics.record(function: function, duration: .now - started, errorCode: response.errorCode)
            }
        }
    }

    private func dispatch(_ function: RegisteredFunction, _ request: RPCRequest, on eventLoop: any EventLoop) -> RPCReply {
        let call: DecodedCall
        let arguments: Arguments
        do {
            call = try request.decodeCall()
            arguments = try function.bind(call)
        } catch {
            return .now(.error(error))
        }
        switch function.body {
        case .sync(let body):
            do {
                return .now(.result(try body(arguments)))
            } catch {
                return .now(failure(of: function, error))
            }
        case .async(let body):
            let future = eventLoop.makeFutureWithTask { try await body(arguments) }
            return .later(answer(future, of: function, on: eventLoop))
        case .pool(let body):
            let limit = configuration.poolThreads + configuration.poolQueueLimit
            guard poolCallsInFlight.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
                poolCallsInFlight.wrappingSubtract(1, ordering: .relaxed)
                return .now(.error(.unavailable("the thread pool is full (\(limit) calls in flight); try again later")))
            }
            let future = pool.runIfActive(eventLoop: eventLoop) { try body(arguments) }
            future.whenComplete { _ in self.poolCallsInFlight.wrappingSubtract(1, ordering: .relaxed) }
            return .later(answer(future, of: function, on: eventLoop))
        case .mq(_, let options):
            return enqueue(function, options: options, call: call, arguments: arguments, on: eventLoop)
        }
    }

    /// `{"response": value}` or the function's error, with the function's timeout applied.
    private func answer(_ future: EventLoopFuture<JSONValue>, of function: RegisteredFunction, on eventLoop: any EventLoop) -> EventLoopFuture<RPCResponse> {
        let response = future.map { RPCResponse.result($0) }.recover { self.failure(of: function, $0) }
        guard let timeout = function.timeout else { return response }
        return response.within(timeout, on: eventLoop) {
            .error(RPCError(.timeout, "\(function.name) did not finish within \(timeout)"))
        }
    }

    private func failure(of function: RegisteredFunction, _ error: any Error) -> RPCResponse {
        let rpcError = RPCError.functionError(error)
        logger.debug("function failed", metadata: ["function": "\(function.name)", "error": "\(rpcError.message)"])
        return .error(rpcError)
    }
}

extension EventLoopFuture where Value: Sendable {
    /// This future's value, or `onTimeout()` if it takes longer than `timeout`. (The work
    /// itself goes on: a blocking call cannot be interrupted, only no longer waited for.)
    func within(_ timeout: Duration, on eventLoop: any EventLoop, onTimeout: @escaping @Sendable () -> Value) -> EventLoopFuture<Value> {
        let promise = eventLoop.makePromise(of: Value.self)
        // Both callbacks run on `eventLoop`, so the flag needs no lock.
        let isDone = NIOLoopBoundBox(false, eventLoop: eventLoop)
        let timer = eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            guard !isDone.value else { return }
            isDone.value = true
            promise.succeed(onTimeout())
        }
        self.hop(to: eventLoop).whenComplete { result in
            guard !isDone.value else { return }
            isDone.value = true
            timer.cancel()
            promise.completeWith(result)
        }
        return promise.futureResult
    }
}
