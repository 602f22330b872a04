/// An error answered to a client: SPEC §3's table. The code names the row, the message says
/// what was wrong in words a caller can act on; neither ever carries a stack trace.
public struct RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable {
        public let rawValue: String
        public let status: Int
        public init?(rawValue: String) {
            guard let known = Self.all.first(where: { $0.rawValue == rawValue }) else { return nil }
            self = known
        }
        private init(_ rawValue: String, _ status: Int) {
            self.rawValue = rawValue
            self.status = status
        }

        public static let badRequest = Code("bad_request", 400)
        public static let unauthorized = Code("unauthorized", 401)
        public static let forbidden = Code("forbidden", 403)
        public static let unknownFunction = Code("unknown_function", 404)
        public static let unknownJob = Code("unknown_job", 404)
        public static let notFound = Code("not_found", 404)
        public static let methodNotAllowed = Code("method_not_allowed", 405)
        public static let requestTimeout = Code("request_timeout", 408)
        public static let payloadTooLarge = Code("payload_too_large", 413)
        public static let invalidArguments = Code("invalid_arguments", 422)
        public static let functionError = Code("function_error", 500)
        public static let unavailable = Code("unavailable", 503)
        public static let timeout = Code("timeout", 504)

        static let all: [Code] = [
            .badRequest, .unauthorized, .forbidden, .unknownFunction, .unknownJob, .notFound, .methodNotAllowed, .requestTimeout,
            .payloadTooLarge, .invalidArguments, .functionError, .unavailable, .timeout,
        ]
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var status: Int { code.status }
    public var description: String { "\(code.rawValue): \(message)" }

    /// `{"code": ..., "message": ...}`, the error as every protocol's error field holds it.
    public var errorObject: JSONValue {
        ["code": .string(code.rawValue), "message": .string(message)]
    }

    /// `{"error": {"code": ..., "message": ...}}`
    public var jsonValue: JSONValue {
        ["error": errorObject]
    }

    public static func badRequest(_ message: String) -> RPCError { RPCError(.badRequest, message) }
    public static func invalidArguments(_ message: String) -> RPCError { RPCError(.invalidArguments, message) }
    public static func unknownFunction(_ name: String) -> RPCError {
        RPCError(.unknownFunction, "no function named '\(name)' is registered")
    }
    public static func unavailable(_ message: String) -> RPCError { RPCError(.unavailable, message) }

    /// The answer for an error a function threw: its description, as the user wrote it.
    public static func functionError(_ error: any Error) -> RPCError {
        if let rpcError = error as? RPCError { return rpcError }
        return RPCError(.functionError, String(describing: error))
    }
}

/// The error a function throws to fail with a plain message (`fail("boom")` → `boom`).
public struct FunctionError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
