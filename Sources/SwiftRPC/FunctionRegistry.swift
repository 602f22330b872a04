/// How a registered function runs (SPEC §1).
public enum Mode: String, Sendable {
    /// Inline on the event loop: for quick, non-blocking work.
    case sync
    /// An `async` function on Swift concurrency; it must not block its thread.
    case async
    /// A blocking function on the front's bounded thread pool.
    case pool
    /// Stored in Redis and run by a worker process; the caller gets a job id.
    case mq
}

/// Per-function options of an MQ function (SPEC §5).
public struct MQOptions: Sendable {
    /// The queue its jobs go to unless a call names another.
    public var queue: String
    /// How long one run may take before it fails with `timeout`.
    public var timeout: Duration
    /// How many times a job that threw is tried again (with exponential backoff).
    public var retries: Int
    /// The first backoff; each further retry doubles it.
    public var retryBackoff: Duration
    /// How long a finished job's hash is kept.
    public var resultTTL: Duration
    /// How long a failed job's hash is kept.
    public var failureTTL: Duration

    public init(
        queue: String = "default",
        timeout: Duration = .seconds(180),
        retries: Int = 0,
        retryBackoff: Duration = .seconds(1),
        resultTTL: Duration = .seconds(86_400),
        failureTTL: Duration = .seconds(7 * 86_400)
    ) {
        self.queue = queue
        self.timeout = timeout
        self.retries = retries
        self.retryBackoff = retryBackoff
        self.resultTTL = resultTTL
        self.failureTTL = failureTTL
    }
}

/// A function with its declaration, ready to be called. (A class: it is looked up on every
/// call, and a reference is cheaper to hand around than its fields.)
public final class RegisteredFunction: Sendable {
    public enum Body: Sendable {
        case sync(@Sendable (Arguments) throws -> JSONValue)
        case async(@Sendable (Arguments) async throws -> JSONValue)
        case pool(@Sendable (Arguments) throws -> JSONValue)
        case mq(MQWork, MQOptions)
    }

    /// How a worker runs an MQ function.
    public enum MQWork: Sendable {
        /// Concurrently with the worker's other jobs, on Swift concurrency.
        case async(@Sendable (Arguments) async throws -> JSONValue)
        /// On a thread of the worker's own pool (blocking I/O, CPU-bound work).
        case blocking(@Sendable (Arguments) throws -> JSONValue)
    }

    public let name: String
    public let parameters: [Parameter]
    /// For `async` and `pool` functions: past this the caller gets 504 `timeout`.
    /// (A `sync` function runs inline and cannot be interrupted; MQ functions use `MQOptions.timeout`.)
    public let timeout: Duration?
    public let body: Body

    public init(name: String, parameters: [Parameter], timeout: Duration?, body: Body) {
        self.name = name
        self.parameters = parameters
        self.timeout = timeout
        self.body = body
    }

    public var mode: Mode {
        switch body {
        case .sync: .sync
        case .async: .async
        case .pool: .pool
        case .mq: .mq
        }
    }

    public var mqOptions: MQOptions? {
        if case .mq(_, let options) = body { return options }
        return nil
    }

    /// Binds and checks the arguments of one call (422 `invalid_arguments` when they don't fit).
    public func bind(_ call: DecodedCall) throws(RPCError) -> Arguments {
        try Arguments.bind(positional: call.positional, keywords: call.keywords, to: parameters, function: name)
    }

    /// The entry of this function in `GET /functions`.
    public var listing: JSONValue {
        var object: JSONObject = [
            "name": .string(name), "mode": .string(mode.rawValue), "parameters": .array(parameters.map(\.listing)),
        ]
        if let options = mqOptions { object["queue"] = .string(options.queue) }
        return .object(object)
    }
}

/// The functions an app serves, by name, in registration order. An app fills one registry
/// at start-up, and both the front and the worker serve from the same one.
public struct FunctionRegistry: Sendable {
    private var functionsByName: [String: RegisteredFunction] = [:]
    /// Names in registration order.
    public private(set) var names: [String] = []

    public init() {}

    public func function(named name: String) -> RegisteredFunction? { functionsByName[name] }

    /// Every function, in registration order.
    public var functions: [RegisteredFunction] { names.compactMap { functionsByName[$0] } }

    /// Adds a function; a name may be registered once (a second registration is a programming error).
    public mutating func add(_ function: RegisteredFunction) {
        precondition(Self.isValidName(Substring(function.name)), "invalid function name '\(function.name)': use [A-Za-z_][A-Za-z0-9_.]*")
        precondition(functionsByName[function.name] == nil, "function '\(function.name)' is registered twice")
        functionsByName[function.name] = function
        names.append(function.name)
    }

    /// A function run inline on the event loop. Keep it quick and non-blocking.
    public mutating func register<Result: JSONRepresentable>(
        _ name: String, _ parameters: Parameter..., body: @escaping @Sendable (Arguments) throws -> Result
    ) {
        add(RegisteredFunction(name: name, parameters: parameters, timeout: nil, body: .sync { try body($0).jsonValue }))
    }

    /// An `async` function; it may suspend but must never block its thread.
    public mutating func registerAsync<Result: JSONRepresentable>(
        _ name: String, _ parameters: Parameter..., timeout: Duration? = nil,
        body: @escaping @Sendable (Arguments) async throws -> Result
    ) {
        add(RegisteredFunction(name: name, parameters: parameters, timeout: timeout, body: .async { try await body($0).jsonValue }))
    }

    /// A blocking function (sleep, blocking I/O) run on the front's bounded thread pool.
    public mutating func registerPool<Result: JSONRepresentable>(
        _ name: String, _ parameters: Parameter..., timeout: Duration? = nil,
        body: @escaping @Sendable (Arguments) throws -> Result
    ) {
        add(RegisteredFunction(name: name, parameters: parameters, timeout: timeout, body: .pool { try body($0).jsonValue }))
    }

    /// A function whose calls are stored in Redis and run by worker processes, concurrently.
    public mutating func registerMQ<Result: JSONRepresentable>(
        _ name: String, _ parameters: Parameter..., options: MQOptions = MQOptions(),
        body: @escaping @Sendable (Arguments) async throws -> Result
    ) {
        add(RegisteredFunction(name: name, parameters: parameters, timeout: nil, body: .mq(.async { try await body($0).jsonValue }, options)))
    }

    /// A blocking MQ function: workers run it on threads of their own.
    public mutating func registerMQBlocking<Result: JSONRepresentable>(
        _ name: String, _ parameters: Parameter..., options: MQOptions = MQOptions(),
        body: @escaping @Sendable (Arguments) throws -> Result
    ) {
        add(RegisteredFunction(name: name, parameters: parameters, timeout: nil, body: .mq(.blocking { try body($0).jsonValue }, options)))
    }

    /// `[A-Za-z_][A-Za-z0-9_.]*`, at most 128 characters.
    public static func isValidName(_ name: Substring) -> Bool {
        let bytes = name.utf8
        guard let first = bytes.first, bytes.count <= 128, first.isASCIILetter || first == UInt8(ascii: "_") else { return false }
        return bytes.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }
}

extension UInt8 {
    var isASCIILetter: Bool { (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) }
    var isASCIIDigit: Bool { (0x30...0x39).contains(self) }
}
