import Logging
import NIOCore
import NIOPosix
import Synchronization
import SwiftRPC
import Tracing

/// What one call came to, before any protocol words it: every codec (HTTP, JSON-RPC, XML-RPC,
/// `/rpc`, TCP frames) translates this and nothing else.
public enum CallOutcome: Sendable {
    /// An inline function's return value.
    case value(JSONValue)
    /// An MQ call's job as it stands: just queued, or still not done after `wait`.
    case job(JobTicket)
    /// An MQ call made with `wait` whose job ended in time.
    case jobEnded(id: String, Result<JSONValue, RPCError>)
    case failure(RPCError)

    /// The call's result as JSON-RPC, XML-RPC and `/rpc` answer it: an MQ call's job ticket is
    /// its result, and a job waited for gives its own result or error.
    public var result: Result<JSONValue, RPCError> {
        switch self {
        case .value(let value), .jobEnded(_, .success(let value)): .success(value)
        case .job(let ticket): .success(ticket.json)
        case .failure(let error), .jobEnded(_, .failure(let error)): .failure(error)
        }
    }

    /// The SPEC §3 code of an error outcome, for metrics and logs.
    public var errorCode: String? {
        switch self {
        case .failure(let error), .jobEnded(_, .failure(let error)): error.code.rawValue
        case .value, .job, .jobEnded: nil
        }
    }
}

/// An MQ call's job: `{"job_id", "status", "queue"}` on every protocol.
public struct JobTicket: Sendable, Equatable {
    public var id: String
    public var status: String
    public var queue: String

    public var json: JSONValue { ["job_id": .string(id), "status": .string(status), "queue": .string(queue)] }
}

/// Runs calls, whatever protocol they came by: looks the function up, binds the arguments and
/// runs it in its mode — `sync` inline on the event loop, `async` as a task, `pool` on a
/// bounded thread pool of its own (so blocked calls never hold up the event loops), `mq` by
/// enqueueing a job. It also answers `get_result`, and records every call's metrics.
public final class Dispatcher: Sendable {
    /// What a name resolves to: a function or `get_result`, with its metrics series.
    public struct Target: Sendable {
        enum Kind: Sendable {
            case function(RegisteredFunction)
            /// `get_result(job_id)`, answered by the front itself from the job store.
            case getResult
        }

        let kind: Kind
        let series: RPCMetrics.Series

        public var name: String {
            switch kind {
            case .function(let function): function.name
            case .getResult: Dispatcher.getResultName
            }
        }
    }

    public struct Configuration: Sendable {
        /// Threads of the pool that runs `pool` functions.
        public var poolThreads: Int
        /// Calls that may wait for a pool thread; past that a call gets 503.
        public var poolQueueLimit: Int

        public init(poolThreads: Int = 64, poolQueueLimit: Int = 1024) {
            self.poolThreads = poolThreads
            self.poolQueueLimit = poolQueueLimit
        }
    }

    public let registry: FunctionRegistry
    public let metrics: RPCMetrics
    let jobs: (any JobQueueDriver)?
    let logger: Logger
    private let configuration: Configuration
    private let pool: NIOThreadPool
    /// The pool's threads start with the first `pool` call: a front without one keeps its
    /// resident memory and thread count down (64 idle threads cost about 1 MB).
    private let poolState = Mutex(PoolState.notStarted)
    private enum PoolState { case notStarted, started, shutDown }
    private let poolCallsInFlight = Atomic<Int>(0)
    /// Every callable name, resolved once here so a call pays one lookup.
    private let targets: [String: Target]

    public init(registry: FunctionRegistry, jobs: (any JobQueueDriver)?, configuration: Configuration = Configuration(), logger: Logger) {
        self.registry = registry
        self.jobs = jobs
        self.configuration = configuration
        self.logger = logger
        let metrics = RPCMetrics()
        var targets: [String: Target] = [:]
        for function in registry.functions {
            targets[function.name] = Target(kind: .function(function), series: metrics.series(function: function.name, mode: function.mode))
        }
        if jobs != nil {
            targets[Self.getResultName] = Target(kind: .getResult, series: metrics.series(function: Self.getResultName, mode: .sync))
        }
        self.metrics = metrics
        self.targets = targets
        self.pool = NIOThreadPool(numberOfThreads: configuration.poolThreads)
    }

    /// Stops the pool once its running calls are done; later `pool` calls fail.
    public func shutdown() async {
        let started = poolState.withLock { state in
            defer { state = .shutDown }
            return state == .started
        }
        if started { try? await pool.shutdownGracefully() }
    }

    /// The function or built-in a name calls; `nil` for an unknown (or impossible) name.
    public func target(named name: some StringProtocol) -> Target? {
        // Only registered (so valid) names are found; a long one is not worth copying to look up.
        guard name.utf8.count <= 128 else { return nil }
        return targets[String(name)]
    }

    /// Runs one call by name: `unknown_function` when there is none.
    public func call(named name: some StringProtocol, _ call: DecodedCall, on eventLoop: any EventLoop) -> Pending<CallOutcome> {
        guard let target = target(named: name) else { return .now(.failure(.unknownFunction(String(name.prefix(128))))) }
        return self.call(target, call, on: eventLoop)
    }

    /// Runs one call and records its metrics; a span of its own (a child of the caller's) when
    /// the caller sent a `traceparent` or the app traces. An untraced call pays nothing for it.
    public func call(_ target: Target, _ call: DecodedCall, on eventLoop: any EventLoop) -> Pending<CallOutcome> {
        let (span, handOn) = TraceParent.startSpan("call \(target.name)", ofKind: .server, parent: call.traceParent)
        guard let span else { return measured(target, call, on: eventLoop) }
        var traced = call
        traced.traceParent = handOn  // an MQ call's enqueue is a child of this span
        let outcome = measured(target, traced, on: eventLoop)
        @Sendable func end(_ value: CallOutcome) {
            if let code = value.errorCode { span.setStatus(SpanStatus(code: .error, message: code)) }
            span.end()
        }
        switch outcome {
        case .now(let value): end(value)
        case .later(let future): future.whenSuccess(end)
        }
        return outcome
    }

    /// Runs one call and records its metrics.
    private func measured(_ target: Target, _ call: DecodedCall, on eventLoop: any EventLoop) -> Pending<CallOutcome> {
        let started = ContinuousClock.now
        let outcome: Pending<CallOutcome>
        switch target.kind {
        case .function(let function): outcome = run(function, call, on: eventLoop)
        case .getResult: outcome = getResult(call, on: eventLoop)
        }
        let series = target.series
        switch outcome {
        case .now(let value):
            series.record(duration: .now - started, errorCode: value.errorCode)
        case .later(let future):
            future.whenSuccess { value in series.record(duration: .now - started, errorCode: value.errorCode) }
        }
        return outcome
    }

    /// Every registered function, and `get_result` when there is a job queue (`GET /functions`).
    public var functionListing: [JSONValue] {
        registry.functions.map(\.listing) + (jobs == nil ? [] : [Self.getResultListing])
    }

    public var functionNames: [String] {
        registry.names + (jobs == nil ? [] : [Self.getResultName])
    }

    /// The parameters a target declares (for XML-RPC's `system.methodSignature` and `methodHelp`).
    public func parameters(of target: Target) -> [Parameter] {
        switch target.kind {
        case .function(let function): function.parameters
        case .getResult: Self.getResultParameters
        }
    }

    private func run(_ function: RegisteredFunction, _ call: DecodedCall, on eventLoop: any EventLoop) -> Pending<CallOutcome> {
        let arguments: Arguments
        do {
            arguments = try function.bind(call)
        } catch {
            return .now(.failure(error))
        }
        switch function.body {
        case .sync(let body):
            do {
                return .now(.value(try body(arguments)))
            } catch {
                return .now(failure(of: function, error))
            }
        case .async(let body):
            let future = eventLoop.makeFutureWithTask { try await body(arguments) }
            return .later(outcome(of: future, function: function, on: eventLoop))
        case .pool(let body):
            let limit = configuration.poolThreads + configuration.poolQueueLimit
            guard poolCallsInFlight.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
                poolCallsInFlight.wrappingSubtract(1, ordering: .relaxed)
                return .now(.failure(.unavailable("the thread pool is full (\(limit) calls in flight); try again later")))
            }
            poolState.withLock { state in
                if state == .notStarted {
                    pool.start()
                    state = .started
                }
            }
            let future = pool.runIfActive(eventLoop: eventLoop) { try body(arguments) }
            future.whenComplete { _ in self.poolCallsInFlight.wrappingSubtract(1, ordering: .relaxed) }
            return .later(outcome(of: future, function: function, on: eventLoop))
        case .mq(_, let options):
            return enqueue(function, options: options, call: call, arguments: arguments, on: eventLoop)
        }
    }

    /// The function's value or error, with its timeout applied.
    private func outcome(of future: EventLoopFuture<JSONValue>, function: RegisteredFunction, on eventLoop: any EventLoop) -> EventLoopFuture<CallOutcome> {
        let outcome = future.mapResult { result in
            switch result {
            case .success(let value): CallOutcome.value(value)
            case .failure(let error): self.failure(of: function, error)
            }
        }
        guard let timeout = function.timeout else { return outcome }
        return outcome.within(timeout, on: eventLoop) {
            .failure(RPCError(.timeout, "\(function.name) did not finish within \(timeout)"))
        }
    }

    private func failure(of function: RegisteredFunction, _ error: any Error) -> CallOutcome {
        let rpcError = RPCError.functionError(error)
        logger.debug("function failed", metadata: ["function": "\(function.name)", "error": "\(rpcError.message)"])
        return .failure(rpcError)
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
